"""The split of a sale, exact to the lamport whatever the numbers (property-based), and
refused when it cannot be."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atelier.chain.solana.programs import MAX_LAMPORTS
from atelier.market.settlement import SplitError, shares_of, split_sale

ADDRESSES = [f"creator-{n}" for n in range(5)]


@st.composite
def creators(draw: st.DrawFn) -> list[tuple[str, int]]:
    count = draw(st.integers(1, 5))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=count - 1, max_size=count - 1)))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    return list(zip(ADDRESSES, shares, strict=False))


@given(
    price=st.integers(1, MAX_LAMPORTS),
    fee_bps=st.integers(0, 3000),
    royalty_bps=st.integers(0, 3000),
    sponsor_bps=st.integers(0, 3000),
    people=creators(),
    primary=st.booleans(),
)
def test_every_lamport_goes_somewhere_once(
    price: int,
    fee_bps: int,
    royalty_bps: int,
    sponsor_bps: int,
    people: list[tuple[str, int]],
    primary: bool,
) -> None:
    split = split_sale(
        price,
        seller="seller",
        reserve="reserve",
        fee_bps=fee_bps,
        royalty_bps=royalty_bps,
        creators=people,
        primary=primary,
        sponsor=("sponsor", sponsor_bps, "agreement"),
    )
    assert sum(p.lamports for p in split.payouts) == price
    assert all(p.lamports >= 0 for p in split.payouts)
    assert split.fee == price * fee_bps // 10_000
    assert split.sponsor == price * sponsor_bps // 10_000
    if not primary:
        assert split.royalties == price * royalty_bps // 10_000
    royalties = [p.lamports for p in split.payouts if p.role == "royalty"]
    # exact shares as fractions: a float loses whole lamports near u64's top (~1.8e19)
    exact = [Fraction(split.royalties * share, 100) for _, share in people]
    assert all(abs(got - want) < 1 for got, want in zip(royalties, exact, strict=True))
    assert sum(amount for _, amount in split.transfers()) == price


def test_largest_remainder_by_hand() -> None:
    assert shares_of(100, [1, 1, 1]) == [34, 33, 33]
    assert shares_of(7, [70, 30]) == [5, 2]  # 4.9 and 2.1: the larger remainder gets the lamport
    assert shares_of(0, [50, 50]) == [0, 0]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"price": 0}, "price"),
        ({"price": MAX_LAMPORTS + 1}, "price"),
        ({"creators": [("a", 60), ("b", 30)]}, "sum to 100"),
        ({"fee_bps": 6000, "royalty_bps": 5000}, "more than the price"),
        ({"fee_bps": 10_001}, "between 0 and 10000"),
        ({"sponsor": ("s", 9000, "x"), "fee_bps": 2000}, "more than the price"),
    ],
)
def test_splits_that_cannot_be(kwargs: dict, problem: str) -> None:  # type: ignore[type-arg]
    base = {
        "price": 10**9,
        "seller": "s",
        "reserve": "r",
        "fee_bps": 250,
        "royalty_bps": 500,
        "creators": [("a", 100)],
        "primary": False,
    }
    with pytest.raises(SplitError, match=problem):
        split_sale(**{**base, **kwargs})
