"""The Fountain 1.1 parser: each rule of the syntax, line endings and BOMs, hostile input,
and a feature-length script counted the same as by screenplain and jouvence."""

from __future__ import annotations

import dataclasses
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atelier.films import fountain
from atelier.films.screenplay import Element, Screenplay
from tests.films.samples import feature


def _only(source: str) -> Element:
    elements = fountain.parse(source).elements
    assert len(elements) == 1, elements
    return elements[0]


def test_a_title_page_with_indented_values() -> None:
    play = fountain.parse(
        "Title:\n    _**BRICK & STEEL**_\n    _**FULL RETIRED**_\nCredit: Written by\n"
        "Authors: Stu Maschwitz\nDraft date: 1/20/2012\nContact:\n    Next Level\n\n"
        "INT. HOUSE - DAY\n\nA room."
    )
    assert play.title == "BRICK & STEEL FULL RETIRED"
    assert play.authors == ["Stu Maschwitz"]
    assert play.title_page["contact"] == ["Next Level"]
    assert [e.type for e in play.elements] == ["scene_heading", "action"]


@pytest.mark.parametrize(
    ("line", "text", "number", "forced"),
    [
        ("INT. HOUSE - DAY", "INT. HOUSE - DAY", None, False),
        ("ext. brick's pool - day", "ext. brick's pool - day", None, False),
        ("INT./EXT. CAR - NIGHT", "INT./EXT. CAR - NIGHT", None, False),
        ("INT/EXT CAR - NIGHT", "INT/EXT CAR - NIGHT", None, False),
        ("I/E CAR - NIGHT", "I/E CAR - NIGHT", None, False),
        ("EST. CITY - DAWN", "EST. CITY - DAWN", None, False),
        ("INT. HOUSE - DAY #1#", "INT. HOUSE - DAY", "1", False),
        ("INT. HOUSE - DAY #1A#", "INT. HOUSE - DAY", "1A", False),
        ("INT. HOUSE - DAY #I-1-A#", "INT. HOUSE - DAY", "I-1-A", False),
        (".SNIPER SCOPE POV", "SNIPER SCOPE POV", None, True),
        (".inside the car", "inside the car", None, True),
    ],
)
def test_scene_headings(line: str, text: str, number: str | None, forced: bool) -> None:
    heading = _only(f"\n{line}\n\n")
    assert (heading.type, heading.text, heading.scene_number, heading.forced) == (
        "scene_heading",
        text,
        number,
        forced,
    )


def test_what_is_not_a_heading() -> None:
    assert _only("...and then").type == "action"  # an ellipsis is not a forced heading
    assert _only("INTERIOR decorating is fun.").type == "action"
    assert _only("Interior of the car.").type == "action"


def test_dialogue_characters_extensions_parentheticals_and_dual() -> None:
    play = fountain.parse(
        "STEEL\nThe man's a myth!\n\nBRICK (V.O.)\n(quietly)\nHe's real.\nVery real.\n\n"
        "HANS (on the radio)\nWhat was it you said?\n\n@McCLANE\nYippie ki-yay!\n\n"
        "BRICK\nScrew retirement.\n\nSTEEL ^\nScrew retirement.\n\nR2D2\nBeep.\n"
    )
    speeches = [e for e in play.elements if e.type == "dialogue"]
    assert [(s.character, s.extension) for s in speeches] == [
        ("STEEL", None),
        ("BRICK", "V.O."),
        ("HANS", "on the radio"),
        ("McCLANE", None),
        ("BRICK", None),
        ("STEEL", None),
        ("R2D2", None),
    ]
    assert [(line.kind, line.text) for line in speeches[1].lines] == [
        ("parenthetical", "(quietly)"),
        ("speech", "He's real.\nVery real."),
    ]
    assert speeches[1].speech == "He's real.\nVery real."
    assert [s.dual for s in speeches] == [False, False, False, False, True, True, False]
    assert speeches[3].forced
    assert play.characters["BRICK"] == 2


def test_a_two_space_line_keeps_a_speech_going() -> None:
    speech = _only("DEALER\nTen.\nFour.\nDealer gets a seven.\n  \nHit or stand sir?\n")
    assert speech.type == "dialogue"
    assert [line.text for line in speech.lines] == [
        "Ten.\nFour.\nDealer gets a seven.",
        "",
        "Hit or stand sir?",
    ]


def test_a_dual_mark_without_a_speech_before_it_is_not_dual() -> None:
    play = fountain.parse("A shot rings out.\n\nBRICK ^\nDown!\n")
    assert [e.dual for e in play.elements] == [False, False]


@pytest.mark.parametrize(
    ("source", "kind", "text"),
    [
        ("\nCUT TO:\n\n", "transition", "CUT TO:"),
        ("\n> Burn to White.\n\n", "transition", "Burn to White."),
        ("> THE END <", "action", "THE END"),
        ("!SCANNING THE AISLES...", "action", "SCANNING THE AISLES..."),
        ("~Willy Wonka! Willy Wonka!", "lyrics", "Willy Wonka! Willy Wonka!"),
        ("# Act", "section", "Act"),
        ("### Scene 5", "section", "Scene 5"),
        ("= Set up the characters.", "synopsis", "Set up the characters."),
        ("===", "page_break", ""),
        ("=====", "page_break", ""),
    ],
)
def test_one_line_elements(source: str, kind: str, text: str) -> None:
    element = _only(source)
    assert (element.type, element.text) == (kind, text)


def test_a_cut_to_inside_a_paragraph_is_action() -> None:
    assert _only("He runs.\nCUT TO:\nHe stops.").type == "action"


def test_sections_keep_their_depth_and_centred_text_is_marked() -> None:
    assert _only("## Sequence").depth == 2
    assert _only(">CENTRED<").centered


def test_notes_and_boneyard() -> None:
    play = fountain.parse(
        "He opens the door. [[Is it locked?]] It opens.\n\n"
        "[[A note\nover two lines.]]\n\n"
        "/* A scene we cut.\n\nINT. GONE - DAY\n\nNothing. */\n\n"
        "STEEL\nHello. [[too curt?]]\n"
    )
    action, note, speech = play.elements
    assert action.text == "He opens the door.  It opens."
    assert action.notes == ["Is it locked?"]
    assert (note.type, note.text) == ("note", "A note over two lines.")
    assert speech.notes == ["too curt?"] and speech.speech == "Hello."
    assert play.count("scene_heading") == 0  # the boneyard's heading is gone


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("*italic* and **bold** and ***both***", "italic and bold and both"),
        ("_underlined_ text", "underlined text"),
        ("Steel enters the code: \\*9765\\*", "Steel enters the code: *9765*"),
        ("2 * 3 * 4 is 24", "2 * 3 * 4 is 24"),
        ("snake_case_name stays", "snake_case_name stays"),
    ],
)
def test_emphasis(source: str, text: str) -> None:
    element = _only(source)
    assert element.text == text
    assert element.raw == source


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_line_endings_and_a_bom(ending: str) -> None:
    source = "\ufeffTitle: Ends\n\nINT. HOUSE - DAY\n\nSTEEL\nHi.\n".replace("\n", ending)
    play = fountain.parse(source)
    assert play.title == "Ends"
    assert [e.type for e in play.elements] == ["scene_heading", "dialogue"]


def test_only_a_title_page_and_nothing_at_all() -> None:
    assert fountain.parse("Title: Nothing Else\nAuthor: Me\n").elements == []
    assert fountain.parse("").elements == []
    assert fountain.parse("\n\n\n").elements == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_any_text_parses(source: str) -> None:
    play = fountain.parse(source)
    assert all(isinstance(e, Element) for e in play.elements)


def test_junk_parses_into_action() -> None:
    junk = bytes(range(256)).decode("latin-1") * 20
    assert fountain.parse(junk).count("dialogue") == 0


def test_a_feature_counts_as_screenplain_and_jouvence_count_it() -> None:
    screenplain_fountain = pytest.importorskip("screenplain.parsers.fountain")
    types = pytest.importorskip("screenplain.types")
    jouvence = pytest.importorskip("jouvence.parser")
    document = pytest.importorskip("jouvence.document")
    source = feature(boneyard=False)  # jouvence 0.4.2 never finishes a multi-line boneyard
    play = fountain.parse(source)
    theirs = screenplain_fountain.parse(io.StringIO(source)).paragraphs
    duals = sum(isinstance(p, types.DualDialog) for p in theirs)
    assert play.count("scene_heading") == sum(isinstance(p, types.Slug) for p in theirs)
    assert play.count("transition") == sum(isinstance(p, types.Transition) for p in theirs)
    assert play.count("dialogue") == sum(isinstance(p, types.Dialog) for p in theirs) + 2 * duals
    assert sum(e.dual for e in play.elements) == 2 * duals
    scenes = jouvence.JouvenceParser().parseString(source).scenes
    paragraphs = [p for scene in scenes for p in scene.paragraphs]
    assert play.count("scene_heading") == sum(1 for s in scenes if s.header)
    assert play.count("transition") == sum(p.type == document.TYPE_TRANSITION for p in paragraphs)
    assert len(play.scenes) == play.count("scene_heading") + 1  # and the title's preamble


def test_a_stored_structure_reads_back_as_the_same_screenplay() -> None:
    play = fountain.parse(feature(scenes=20))
    assert Screenplay.from_dict(dataclasses.asdict(play)) == play
