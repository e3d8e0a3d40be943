"""AiNFT's market on Solana: studios and their members, collections with Metaplex metadata,
NFTs minted from signed artifacts, and a market (fixed price, offers, English and Dutch
auctions) whose every sale is one Solana transaction paying the reserve, the creators and
the seller to the lamport."""

from atelier.core.modules import Module

MODULE = Module(
    name="market",
    models=("atelier.market.models",),
    routers=("atelier.market.api:router", "atelier.market.actions:router"),
    pages=("atelier.market.pages:router",),
    tasks="atelier.market.tasks",
)
