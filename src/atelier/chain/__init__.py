"""Blockchain adapters: the EVM governance contracts and the chains they run on."""

from atelier.core.modules import Module

MODULE = Module(
    name="chain",
    models=("atelier.chain.evm.models",),
    routers=("atelier.chain.evm.api:router",),
)
