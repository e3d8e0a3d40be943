"""Blockchain adapters: the EVM governance contracts and the chain they run on, and the
Solana runtime the market settles on."""

from atelier.core.modules import Module

MODULE = Module(
    name="chain",
    models=("atelier.chain.evm.models",),
    routers=("atelier.chain.evm.api:router", "atelier.chain.solana.api:router"),
)
