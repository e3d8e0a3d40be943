"""Content ids, C2PA signing, fingerprints, embeddings, originality and verification."""

from atelier.core.modules import Command, Module

MODULE = Module(
    name="provenance",
    models=("atelier.provenance.models",),
    routers=("atelier.provenance.api:router",),
    pages=("atelier.provenance.pages:router",),
    tasks="atelier.provenance.tasks",
    commands=(
        Command("verify", "atelier.provenance.cli:verify"),
        Command("sign", "atelier.provenance.cli:sign"),
        Command("corpus", "atelier.provenance.cli:corpus_app"),
    ),
)
