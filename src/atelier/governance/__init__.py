"""Proposals, signed votes, voting-power strategies, tallies and relaying on chain."""
