#!/usr/bin/env python3
"""Check an Atelier month from its public files alone (this script imports nothing of
Atelier: Python 3.10+ standard library only).

    python3 recompute.py https://atelier.example 2026-11
    python3 recompute.py --files month.json postings.csv shares.csv

It checks that
1. the postings CSV is the one the month was published with (its sha256 is the digest);
2. the month's distribution postings split the pool by the published basis points,
   by largest remainder (floors, then one cent each to the largest remainders; ties to the
   larger weight, then to the earlier part: workers, infrastructure, development);
3. the workers' part is split by work units the same way (ties to more units, then to the
   smaller worker id), and each worker's share is what the ledger posted to that worker's
   payable or escrow account;
4. every currency's postings in the month sum to zero.
It prints what it checked and exits 1 at the first month that does not add up.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import urllib.request
from collections import defaultdict

PARTS = ("Workers", "Infrastructure", "Development")


def largest_remainder(total, weights):
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], -weights[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (the user's URL)
        return answer.read()


def read_postings(postings_bytes):
    """The month's totals per currency, and what its distribution posted per part and per
    worker."""
    totals = defaultdict(int)
    parts = defaultdict(int)  # (currency, part) → minor units
    workers = defaultdict(int)  # (currency, worker hex) → minor units
    for row in csv.DictReader(io.StringIO(postings_bytes.decode("utf-8"))):
        amount = int(row["amount_minor"])
        totals[row["currency"]] += amount
        account = row["account"]
        if row["kind"] != "distribution":
            continue
        if account.startswith("Expenses:Shares:"):
            parts[(row["currency"], account.split(":")[-1])] += amount
        elif account.startswith(("Liabilities:Payable:Workers:W", "Liabilities:Escrow:Workers:W")):
            workers[(row["currency"], account.split(":W")[-1])] -= amount
    return totals, parts, workers


def check(month, postings_bytes, shares_bytes):
    problems = []
    digest = hashlib.sha256(postings_bytes).hexdigest()
    if month.get("digest") and digest != month["digest"]:
        problems.append(f"postings sha256 {digest} is not the published {month['digest']}")
    totals, shares_posted, worker_posted = read_postings(postings_bytes)
    problems += [f"{c} postings sum to {t}, not 0" for c, t in totals.items() if t]

    units = defaultdict(dict)
    published = defaultdict(dict)
    for row in csv.DictReader(io.StringIO(shares_bytes.decode("utf-8"))):
        worker = row["worker_id"].replace("-", "")
        units[row["currency"]][worker] = int(row["units"])
        published[row["currency"]][worker] = int(row["amount_minor"])

    for pool in month["pools"]:
        c = pool["currency"]
        if pool["pool"] <= 0 or not units[c]:
            print(f"{month['month']} {c}: pool {pool['pool']}, nothing split")
            continue
        expected = largest_remainder(pool["pool"], month["split_bp"])
        posted = [shares_posted[(c, part)] for part in PARTS]
        if posted != expected:
            problems.append(f"{c}: the ledger split {posted}, the rule gives {expected}")
        workers = sorted(units[c])
        amounts = largest_remainder(expected[0], [units[c][w] for w in workers])
        for worker, amount in zip(workers, amounts, strict=True):
            if published[c][worker] != amount:
                problems.append(f"{c} {worker}: published {published[c][worker]}, rule {amount}")
            if worker_posted[(c, worker)] != amount:
                problems.append(f"{c} {worker}: posted {worker_posted[(c, worker)]}, rule {amount}")
        print(
            f"{month['month']} {c}: pool {pool['pool']} → workers {expected[0]}, "
            f"infrastructure {expected[1]}, development {expected[2]}; "
            f"{len(workers)} workers, shares sum {sum(amounts)}"
        )
    return problems


def main(argv):
    if len(argv) == 4 and argv[0] == "--files":
        with open(argv[1], "rb") as f:
            month = json.load(f)
        with open(argv[2], "rb") as f:
            postings = f.read()
        with open(argv[3], "rb") as f:
            shares = f.read()
    elif len(argv) == 2:
        base = argv[0].rstrip("/") + "/api/v1/transparency/month/" + argv[1]
        month = json.loads(fetch(base))
        postings = fetch(base + "/postings.csv")
        shares = fetch(base + "/shares.csv")
    else:
        print(__doc__)
        return 2
    if month.get("state") != "closed":
        print(f"{month.get('month')} is not closed yet: its figures are a projection")
    problems = check(month, postings, shares)
    for problem in problems:
        print("MISMATCH:", problem)
    if not problems:
        print(f"{month['month']}: the digest, the split and every share add up.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
