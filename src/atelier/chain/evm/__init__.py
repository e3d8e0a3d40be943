"""The EVM side of governance: SoulvanCoin, SoulvanUpgradeVoting, their node and indexer."""
