"""Blockchain adapters: the EVM governance contracts and the chains they run on."""
