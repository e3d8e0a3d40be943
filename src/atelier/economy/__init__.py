"""Donations, the internal ledger, distributions and transparency (the ledger lands first)."""
