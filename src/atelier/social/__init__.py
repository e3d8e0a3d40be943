"""Social (AiNFT's Farcaster service, seed 001): a hub HTTP API client and an indexer that
follows a hub's event stream, checking each message's BLAKE3 hash and ed25519 signature
before storing it; feeds of an account's casts and of casts linking a collection;
cross-posting as the platform's account; a stand-in hub for development."""

from atelier.core.modules import Module

MODULE = Module(
    name="social",
    models=("atelier.social.models",),
    routers=("atelier.social.api:router", "atelier.social.api:hub_router"),
    pages=("atelier.social.pages:router",),
    tasks="atelier.social.tasks",
)
