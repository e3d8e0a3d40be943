"""A film's plan: shots from action, one voice and one seed per character for the whole
film, a music cue per scene, every job a valid grid job with the grid's own estimate."""

from __future__ import annotations

from atelier.films import fountain, planning
from atelier.grid.specs import build_spec
from tests.films.samples import feature
from tests.films.test_scripts_api import SHORT

STORY = (
    "Title: The Keeper\n\nINT. LIGHTHOUSE - NIGHT\n\nThe KEEPER climbs the stairs.\n\n"
    "KEEPER\nNot tonight.\n\nEXT. ROCKS - DAWN\n\nThe KEEPER runs to the water.\n\n"
    "GULL\nEvery night.\n\nKEEPER\nThen stay.\n\nINT. CELLAR - DAY\n\n"
)


def test_shots_voices_seeds_and_music() -> None:
    film = planning.plan(fountain.parse(STORY))
    assert film.jobs_by_kind == {"image": 3, "speech": 3, "music": 3}
    keeper_shots = [job for job in film.shots if job.character == "KEEPER"]
    assert len(keeper_shots) == 2  # named in both actions
    assert {job.fields["seed"] for job in keeper_shots} == {film.seeds["KEEPER"]}
    assert film.shots[2].fields["prompt"].startswith("Cellar, day")  # no action: its heading
    keeper_lines = [job for job in film.lines if job.character == "KEEPER"]
    assert {job.fields["voice"] for job in keeper_lines} == {film.voices["KEEPER"]}
    assert film.music[1].fields["prompt"].startswith("tense")  # "runs"
    assert film.music[0].fields["prompt"].startswith("dark")  # night
    # each line is heard over the latest shot of its scene before it
    assert [line.shot for line in film.lines] == [0, 1, 1]
    assert [shot.shot for shot in film.shots] == [0, 1, 2]
    for job in film.jobs:  # every job is one the grid accepts, costed as the grid costs it
        assert build_spec(job.kind, dict(job.fields)).estimate_s() == job.estimate_s
    assert film.compute_seconds == round(sum(job.estimate_s for job in film.jobs), 3)


def test_lines_before_any_action_play_over_the_scenes_first_shot() -> None:
    story = (
        "INT. BAR - NIGHT\n\nANNA\nLate again.\n\nBEN walks in.\n\nBEN\nTraffic.\n\n"
        "A GLASS breaks.\n\nA GLASS breaks.\n\nANNA\nTwice?\n"
    )
    film = planning.plan(fountain.parse(story))
    assert len(film.shots) == 3  # identical actions are two shots
    assert [line.shot for line in film.lines] == [0, 0, 2]


def test_the_same_screenplay_plans_the_same_film() -> None:
    once = planning.plan(fountain.parse(SHORT))
    again = planning.plan(fountain.parse(SHORT.replace("\n", "\r\n")))
    assert once == again
    clips = planning.plan(fountain.parse(SHORT), planning.PlanOptions(video=True, shot_seconds=3))
    assert clips.jobs_by_kind["video"] == 2 and clips.shots[0].fields["duration_s"] == 3


def test_a_feature_plans_hundreds_of_jobs() -> None:
    film = planning.plan(fountain.parse(feature()))
    assert film.jobs_by_kind["speech"] > 500 and film.jobs_by_kind["music"] == 150
    assert len(set(film.voices.values())) > 1
