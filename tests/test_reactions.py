"""docs/architecture.md shows who reacts to what as the registries say it today."""

from __future__ import annotations

from atelier.server import reactions


def test_the_reaction_table_in_the_docs_is_current() -> None:
    committed = reactions.DOCUMENT.read_text()
    assert reactions.rewritten(committed) == committed, (
        "run `python -m atelier.server.reactions` and commit docs/architecture.md"
    )


def test_the_table_names_every_reaction() -> None:
    table = reactions.table()
    for expected in (
        "`grid.artifact_accepted`",
        "`provenance.process_artifact`",
        "`governance.job_proposal`",
        "`identity.send_verification_email`",
        "`music.personalize`",
        "`provenance.sign_artifact`",
        "hash → fingerprint → originality → sign → publish",
    ):
        assert expected in table
