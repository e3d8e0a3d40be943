"""The short-film template's screenplay: the logline's own clauses as scenes, read back by
the portal's Fountain parser as the writer meant them."""

from __future__ import annotations

import pytest

from atelier.films import logline, scripts


def test_a_logline_becomes_scenes_a_narrator_says() -> None:
    text = logline.screenplay(
        "Under the ice of Europa, a probe hears a song; when it answers, something swims "
        "up to meet it, then the signal stops."
    )
    play = scripts.prepare(text, "fountain", None).play
    assert play.title == "Under The Ice"
    headings = [s.heading.text for s in play.scenes if s.heading]
    assert headings == ["EXT. ICE - DAY", "EXT. ICE - NIGHT", "EXT. ICE - DAWN"]
    said = [e.speech for s in play.scenes for e in s.elements if e.type == "dialogue"]
    assert said == [
        "Under the ice of Europa.",
        "A probe hears a song, it answers, something swims up to meet it.",
        "The signal stops.",
    ]
    assert set(play.characters) == {"NARRATOR"}


def test_a_shouted_logline_stays_action_and_abstract_places_are_not_places() -> None:
    play = scripts.prepare(logline.screenplay("TWO ROBOTS FALL IN LOVE"), "fountain", None).play
    assert play.count("action") == 1 and play.count("dialogue") == 1
    assert [s.heading.text for s in play.scenes if s.heading] == ["EXT. THE CITY - DAY"]
    assert logline.screenplay("a, b", title="Mine").startswith("Title: Mine\n")


@pytest.mark.parametrize("empty", ["", "   ", " , ; "])
def test_no_logline_no_screenplay(empty: str) -> None:
    with pytest.raises(ValueError, match="logline"):
        logline.screenplay(empty)
