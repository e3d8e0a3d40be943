"""SoulvanCoin and SoulvanUpgradeVoting on eth-tester (py-evm): the committed artifacts.

Every test gets a fresh in-process chain. eth-tester mines one block per transaction, so a
proposal made right after a transfer snapshots the block holding that transfer.

Reverts: on EthereumTesterProvider a custom error does not arrive as web3's
`ContractCustomError` but as `eth_tester.exceptions.TransactionFailed("execution reverted:
b'...'")`, the revert data as a Python bytes repr (web3 only decodes `Error(string)`, panics and
OffchainLookup from it). `revert_data` reads both forms; assertions compare the 4-byte selector
with the one of the named error in the contract's ABI.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_typing import ChecksumAddress
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.types import TxReceipt

from atelier.chain.evm.client import error_name, revert_data
from atelier.chain.evm.contracts import (
    Deployment,
    deploy,
    load_artifact,
    token_contract,
    voting_contract,
)

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_SOURCES = ROOT / "contracts" / "src"
ARTIFACTS = ("SoulvanCoin", "SoulvanUpgradeVoting")
UNIT = 10**18
SUPPLY = 1_000_000 * UNIT
PERIOD = 3600
QUORUM = 100 * UNIT
JOB = Web3.keccak(text="job-1")
JOB2 = Web3.keccak(text="job-2")
VOTE_TYPES = [
    {"name": "proposal", "type": "bytes32"},
    {"name": "voter", "type": "address"},
    {"name": "choice", "type": "string"},
    {"name": "reason", "type": "string"},
    {"name": "timestamp", "type": "uint64"},
]
DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


# --- helpers ------------------------------------------------------------------------------


def send(fn: Any, sender: ChecksumAddress) -> TxReceipt:
    """Transact `fn` (a bound contract function) from an unlocked account; must succeed."""
    w3 = fn.w3
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    assert receipt["status"] == 1
    return receipt


def error_selector(abi: list[dict[str, Any]], name: str) -> tuple[bytes, list[str]]:
    """The 4-byte selector and argument types of custom error `name` in `abi`."""
    for item in abi:
        if item.get("type") == "error" and item["name"] == name:
            types = [i["type"] for i in item["inputs"]]
            return bytes(Web3.keccak(text=f"{name}({','.join(types)})")[:4]), types
    raise AssertionError(f"no error {name} in the ABI")


def assert_reverts(contract: Contract, name: str, action: Callable[[], Any]) -> tuple[Any, ...]:
    """Run `action`, expect custom error `name` of `contract`, return the error's arguments."""
    with pytest.raises((TransactionFailed, ContractCustomError)) as info:
        action()
    data = revert_data(info.value)
    assert data is not None, info.value
    selector, types = error_selector(contract.abi, name)
    assert data[:4] == selector, f"expected {name}, got {error_name(info.value, contract.abi)}"
    values = abi_decode(types, data[4:])
    return tuple(
        Web3.to_checksum_address(v) if t == "address" else v
        for t, v in zip(types, values, strict=True)
    )


def typed_vote(
    chain_id: int,
    verifying: str,
    proposal: bytes,
    voter: str,
    choice: str,
    reason: str = "",
    timestamp: int = 1_700_000_000,
) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": DOMAIN_TYPES, "Vote": VOTE_TYPES},
        "primaryType": "Vote",
        "domain": {
            "name": "SoulvanUpgradeVoting",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": verifying,
        },
        "message": {
            "proposal": proposal,
            "voter": voter,
            "choice": choice,
            "reason": reason,
            "timestamp": timestamp,
        },
    }


def sign_vote(key: LocalAccount, message: dict[str, Any]) -> bytes:
    return bytes(Account.sign_typed_data(key.key, full_message=message).signature)


# --- fixtures -----------------------------------------------------------------------------


class Chain:
    """One fresh chain with the contracts deployed from accounts[0], who holds the supply."""

    def __init__(self) -> None:
        self.w3 = Web3(EthereumTesterProvider())
        self.tester = self.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        self.accounts: list[ChecksumAddress] = list(self.w3.eth.accounts)
        self.owner = self.accounts[0]
        self.deployment: Deployment = deploy(
            self.w3,
            self.owner,
            initial_supply=SUPPLY,
            voting_period_s=PERIOD,
            quorum=QUORUM,
        )
        self.token = token_contract(self.w3, self.deployment.token)
        self.voting = voting_contract(self.w3, self.deployment.voting)

    def give(self, to: ChecksumAddress, amount: int) -> TxReceipt:
        return send(self.token.functions.transfer(to, amount), self.owner)

    def propose(self, job: bytes = JOB) -> TxReceipt:
        return send(self.voting.functions.createProposal(job), self.owner)

    def vote(
        self, voter: ChecksumAddress, approve: bool, reason: str = "", job: bytes = JOB
    ) -> TxReceipt:
        return send(self.voting.functions.voteOnUpgrade(job, approve, reason), voter)

    def proposal(self, job: bytes = JOB) -> dict[str, Any]:
        fields = [o["name"] for o in self._proposal_abi()]
        return dict(zip(fields, self.voting.functions.getProposal(job).call(), strict=True))

    def _proposal_abi(self) -> list[dict[str, Any]]:
        for item in self.voting.abi:
            if item.get("name") == "getProposal":
                return list(item["outputs"][0]["components"])
        raise AssertionError("getProposal not in ABI")

    def travel_past(self, job: bytes = JOB) -> None:
        """Make the next transaction's block the first one after `job`'s voteEnd.

        eth-tester's `time_travel(t)` mines a block at t - 1 and stamps the pending block t.
        """
        self.tester.time_travel(self.proposal(job)["voteEnd"] + 1)

    def block(self) -> int:
        return int(self.w3.eth.block_number)


@pytest.fixture
def chain() -> Chain:
    return Chain()


# --- deployment and token -----------------------------------------------------------------


def test_deploy(chain: Chain) -> None:
    w3, d = chain.w3, chain.deployment
    assert d.chain_id == w3.eth.chain_id
    assert d.deploy_block >= 1
    for address, name in ((d.token, "SoulvanCoin"), (d.voting, "SoulvanUpgradeVoting")):
        code = w3.eth.get_code(address)
        assert len(code) == len(bytes.fromhex(load_artifact(name).deployed_bytecode[2:]))
    token, voting = chain.token.functions, chain.voting.functions
    assert token.name().call() == "SoulvanCoin"
    assert token.symbol().call() == "SOUL"
    assert token.totalSupply().call() == SUPPLY
    assert token.balanceOf(chain.owner).call() == SUPPLY
    assert token.owner().call() == chain.owner
    assert voting.owner().call() == chain.owner
    assert voting.token().call() == d.token
    assert voting.defaultVotingPeriod().call() == PERIOD
    assert voting.defaultQuorum().call() == QUORUM
    # only the owner mints
    send(token.mint(chain.accounts[1], 5), chain.owner)
    assert token.balanceOf(chain.accounts[1]).call() == 5
    assert_reverts(
        chain.token,
        "OwnableUnauthorizedAccount",
        lambda: token.mint(chain.accounts[1], 5).transact({"from": chain.accounts[1]}),
    )


def test_holders_vote_without_delegating(chain: Chain) -> None:
    token = chain.token.functions
    alice = chain.accounts[1]
    before = chain.block()
    chain.give(alice, 250 * UNIT)
    assert token.delegates(alice).call() == alice
    assert token.balanceOf(alice).call() == token.getVotes(alice).call() == 250 * UNIT
    assert token.getVotes(chain.owner).call() == SUPPLY - 250 * UNIT
    send(token.mint(chain.owner, 1), chain.owner)  # one more block, so `after` is in the past
    after = chain.block() - 1
    assert token.getPastVotes(alice, before).call() == 0
    assert token.getPastVotes(alice, after).call() == 250 * UNIT
    assert token.getPastVotes(chain.owner, before).call() == SUPPLY
    assert token.getPastTotalSupply(before).call() == SUPPLY


def test_explicit_delegation_moves_votes(chain: Chain) -> None:
    token = chain.token.functions
    alice, bob = chain.accounts[1], chain.accounts[2]
    chain.give(alice, 100 * UNIT)
    send(token.delegate(bob), alice)
    assert token.delegates(alice).call() == bob
    assert token.getVotes(alice).call() == 0
    assert token.getVotes(bob).call() == 100 * UNIT
    chain.give(alice, 50 * UNIT)  # later receipts follow the chosen delegate
    assert token.getVotes(bob).call() == 150 * UNIT
    chain.give(bob, 10 * UNIT)  # bob's own balance still counts for bob
    assert token.getVotes(bob).call() == 160 * UNIT
    send(token.transfer(chain.owner, 30 * UNIT), alice)
    assert token.getVotes(bob).call() == 130 * UNIT
    # delegating to address(0) means "back to myself", not "to nobody"
    send(token.delegate("0x" + "00" * 20), alice)
    assert token.delegates(alice).call() == alice
    assert token.getVotes(alice).call() == 120 * UNIT
    assert token.getVotes(bob).call() == 10 * UNIT
    send(token.transfer(chain.owner, 120 * UNIT), alice)  # no underflow afterwards
    assert token.getVotes(alice).call() == 0
    total = sum(token.getVotes(a).call() for a in chain.accounts[:3])
    assert total == token.totalSupply().call()


# --- proposals and votes ------------------------------------------------------------------


def test_create_and_vote_emit_events(chain: Chain) -> None:
    alice = chain.accounts[1]
    chain.give(alice, 300 * UNIT)
    receipt = chain.propose()
    block = chain.w3.eth.get_block(receipt["blockNumber"])
    (created,) = chain.voting.events.ProposalCreated().process_receipt(receipt)
    assert created["args"] == {
        "jobId": JOB,
        "snapshot": receipt["blockNumber"] - 1,
        "voteEnd": block["timestamp"] + PERIOD,
        "tokenWeighted": True,
        "quorum": QUORUM,
    }
    proposal = chain.proposal()
    assert proposal["exists"] and proposal["tokenWeighted"] and not proposal["finalized"]
    assert proposal["snapshot"] == receipt["blockNumber"] - 1

    receipt = chain.vote(alice, True, "ship it ✓")
    (cast,) = chain.voting.events.VoteCast().process_receipt(receipt)
    assert cast["args"] == {
        "jobId": JOB,
        "voter": alice,
        "approve": True,
        "weight": 300 * UNIT,
        "reason": "ship it ✓",
    }
    chain.vote(chain.owner, False)
    assert chain.voting.functions.getTally(JOB).call() == [300 * UNIT, SUPPLY - 300 * UNIT]
    proposal = chain.proposal()
    assert (proposal["approveVoters"], proposal["rejectVoters"]) == (1, 1)
    assert chain.voting.functions.hasVoted(JOB, alice).call()
    assert not chain.voting.functions.hasVoted(JOB, chain.accounts[2]).call()
    assert chain.voting.functions.getTally(JOB2).call() == [0, 0]  # unknown: zeros


def test_proposal_rules(chain: Chain) -> None:
    voting = chain.voting.functions
    outsider = chain.accounts[5]
    assert_reverts(
        chain.voting,
        "OwnableUnauthorizedAccount",
        lambda: voting.createProposal(JOB).transact({"from": outsider}),
    )
    chain.propose()
    assert_reverts(
        chain.voting,
        "ProposalExists",
        lambda: voting.createProposal(JOB).transact({"from": chain.owner}),
    )
    now = chain.w3.eth.get_block("latest")["timestamp"]
    current = chain.block()
    assert_reverts(
        chain.voting,
        "ProposalExists",
        lambda: voting.createProposalWithWindow(JOB, current - 1, now + 100, True, 0).transact(
            {"from": chain.owner}
        ),
    )
    # the snapshot must be a block before the creating one (current + 1 is the pending one)
    args = assert_reverts(
        chain.voting,
        "InvalidSnapshot",
        lambda: voting.createProposalWithWindow(JOB2, current + 1, now + 100, True, 0).transact(
            {"from": chain.owner}
        ),
    )
    assert args == (current + 1, current + 1)
    assert_reverts(
        chain.voting,
        "InvalidVoteEnd",
        lambda: voting.createProposalWithWindow(JOB2, current, now, True, 0).transact(
            {"from": chain.owner}
        ),
    )
    assert_reverts(
        chain.voting,
        "UnknownProposal",
        lambda: voting.voteOnUpgrade(JOB2, True, "").transact({"from": chain.owner}),
    )
    receipt = send(voting.createProposalWithWindow(JOB2, current, now + 100, True, 7), chain.owner)
    (created,) = chain.voting.events.ProposalCreated().process_receipt(receipt)
    assert created["args"]["snapshot"] == current
    assert created["args"]["voteEnd"] == now + 100
    assert created["args"]["quorum"] == 7


def test_weight_is_balance_at_snapshot(chain: Chain) -> None:
    alice, bob, carol = chain.accounts[1], chain.accounts[2], chain.accounts[3]
    chain.give(alice, 100 * UNIT)
    chain.propose()
    chain.give(alice, 900 * UNIT)  # after the snapshot: no extra weight
    chain.give(bob, 500 * UNIT)  # bob had nothing at the snapshot
    (cast,) = chain.voting.events.VoteCast().process_receipt(chain.vote(alice, True))
    assert cast["args"]["weight"] == 100 * UNIT
    snapshot = chain.proposal()["snapshot"]
    args = assert_reverts(
        chain.voting,
        "NoVotingPower",
        lambda: chain.voting.functions.voteOnUpgrade(JOB, True, "").transact({"from": bob}),
    )
    assert args == (bob, snapshot)
    # tokens that already voted cannot vote again from another wallet
    send(chain.token.functions.transfer(carol, 1000 * UNIT), alice)
    assert_reverts(
        chain.voting,
        "NoVotingPower",
        lambda: chain.voting.functions.voteOnUpgrade(JOB, True, "").transact({"from": carol}),
    )


def test_double_vote_reverts(chain: Chain) -> None:
    alice = chain.accounts[1]
    chain.give(alice, UNIT)
    chain.propose()
    chain.vote(alice, True)
    args = assert_reverts(
        chain.voting,
        "AlreadyVoted",
        lambda: chain.voting.functions.voteOnUpgrade(JOB, False, "changed my mind").transact(
            {"from": alice}
        ),
    )
    assert args == (JOB, alice)


def test_non_holder_reverts(chain: Chain) -> None:
    chain.propose()
    assert_reverts(
        chain.voting,
        "NoVotingPower",
        lambda: chain.voting.functions.voteOnUpgrade(JOB, True, "").transact(
            {"from": chain.accounts[4]}
        ),
    )


def test_reason_limit_is_5000_bytes(chain: Chain) -> None:
    alice, bob, carol = chain.accounts[1], chain.accounts[2], chain.accounts[3]
    for account in (alice, bob, carol):
        chain.give(account, UNIT)
    chain.propose()
    args = assert_reverts(
        chain.voting,
        "ReasonTooLong",
        lambda: chain.voting.functions.voteOnUpgrade(JOB, True, "x" * 5001).transact(
            {"from": alice}
        ),
    )
    assert args == (5001, 5000)
    # bytes, not characters: 2501 two-byte characters are 5002 bytes
    args = assert_reverts(
        chain.voting,
        "ReasonTooLong",
        lambda: chain.voting.functions.voteOnUpgrade(JOB, True, "é" * 2501).transact({"from": bob}),
    )
    assert args == (5002, 5000)
    chain.vote(alice, True, "x" * 5000)
    chain.vote(bob, True, "é" * 2500)


def test_vote_window(chain: Chain) -> None:
    alice, bob = chain.accounts[1], chain.accounts[2]
    chain.give(alice, UNIT)
    chain.give(bob, UNIT)
    chain.propose()
    vote_end = chain.proposal()["voteEnd"]
    chain.tester.time_travel(vote_end)  # the next block is stamped vote_end: still open
    receipt = chain.vote(alice, True)
    assert chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == vote_end
    args = assert_reverts(
        chain.voting,
        "VotingClosed",
        lambda: chain.voting.functions.voteOnUpgrade(JOB, True, "").transact({"from": bob}),
    )
    assert args == (JOB, vote_end)


def test_apply_before_end_reverts(chain: Chain) -> None:
    chain.give(chain.accounts[1], QUORUM)
    chain.propose()
    chain.vote(chain.accounts[1], True)
    assert_reverts(
        chain.voting,
        "VotingOpen",
        lambda: chain.voting.functions.applyUpgrade(JOB).transact({"from": chain.accounts[1]}),
    )
    assert_reverts(
        chain.voting,
        "UnknownProposal",
        lambda: chain.voting.functions.applyUpgrade(JOB2).transact({"from": chain.accounts[1]}),
    )


@pytest.mark.parametrize(
    ("approve", "reject", "applied"),
    [
        (QUORUM, 0, True),  # majority, quorum met exactly
        (60 * UNIT, 50 * UNIT, True),  # quorum counts both sides
        (60 * UNIT, 0, False),  # majority, quorum not met
        (50 * UNIT, 60 * UNIT, False),  # quorum met, majority against
        (60 * UNIT, 60 * UNIT, False),  # a tie is not a majority
        (0, 0, False),  # nobody voted
    ],
)
def test_apply_outcome(chain: Chain, approve: int, reject: int, applied: bool) -> None:
    yes, no, caller = chain.accounts[1], chain.accounts[2], chain.accounts[7]
    if approve:
        chain.give(yes, approve)
    if reject:
        chain.give(no, reject)
    chain.propose()
    if approve:
        chain.vote(yes, True)
    if reject:
        chain.vote(no, False)
    chain.travel_past()
    receipt = send(chain.voting.functions.applyUpgrade(JOB), caller)  # anyone may close it
    events = chain.voting.events
    applied_logs = events.UpgradeApplied().process_receipt(receipt, errors=DISCARD)
    rejected_logs = events.UpgradeRejected().process_receipt(receipt, errors=DISCARD)
    (log,) = applied_logs if applied else rejected_logs
    assert not (rejected_logs if applied else applied_logs)
    assert log["args"] == {"jobId": JOB, "approveWeight": approve, "rejectWeight": reject}
    proposal = chain.proposal()
    assert proposal["finalized"]
    assert proposal["applied"] is applied
    assert_reverts(
        chain.voting,
        "AlreadyFinalized",
        lambda: chain.voting.functions.applyUpgrade(JOB).transact({"from": caller}),
    )


def test_unweighted_proposal(chain: Chain) -> None:
    nobody1, nobody2 = chain.accounts[8], chain.accounts[9]
    assert chain.token.functions.balanceOf(nobody1).call() == 0
    now = chain.w3.eth.get_block("latest")["timestamp"]
    receipt = send(
        chain.voting.functions.createProposalWithWindow(JOB, chain.block() - 1, now + 60, False, 2),
        chain.owner,
    )
    (created,) = chain.voting.events.ProposalCreated().process_receipt(receipt)
    assert created["args"]["tokenWeighted"] is False
    (cast,) = chain.voting.events.VoteCast().process_receipt(chain.vote(nobody1, True))
    assert cast["args"]["weight"] == 1
    chain.vote(chain.owner, True)  # a million tokens still weigh 1
    chain.vote(nobody2, False)
    assert chain.voting.functions.getTally(JOB).call() == [2, 1]
    chain.travel_past()
    receipt = send(chain.voting.functions.applyUpgrade(JOB), nobody1)
    (log,) = chain.voting.events.UpgradeApplied().process_receipt(receipt)
    assert log["args"]["approveWeight"] == 2


# --- relayed votes ------------------------------------------------------------------------


def test_domain_and_typehash(chain: Chain) -> None:
    from eth_account.messages import encode_typed_data

    voting = chain.voting.functions
    assert voting.VOTE_TYPEHASH().call() == Web3.keccak(
        text="Vote(bytes32 proposal,address voter,string choice,string reason,uint64 timestamp)"
    )
    message = typed_vote(chain.w3.eth.chain_id, chain.voting.address, JOB, chain.owner, "approve")
    assert voting.domainSeparator().call() == encode_typed_data(full_message=message).header


def test_vote_by_sig(chain: Chain) -> None:
    voter: LocalAccount = Account.create()
    relayer = chain.accounts[6]
    chain.give(voter.address, 42 * UNIT)
    chain.propose()
    reason = "relayed, no ETH needed"
    message = typed_vote(
        chain.w3.eth.chain_id, chain.voting.address, JOB, voter.address, "reject", reason
    )
    signature = sign_vote(voter, message)
    receipt = send(
        chain.voting.functions.voteBySig(
            JOB, voter.address, "reject", reason, 1_700_000_000, signature
        ),
        relayer,
    )
    (cast,) = chain.voting.events.VoteCast().process_receipt(receipt)
    assert cast["args"] == {
        "jobId": JOB,
        "voter": voter.address,
        "approve": False,
        "weight": 42 * UNIT,
        "reason": reason,
    }
    assert chain.w3.eth.get_balance(voter.address) == 0
    assert chain.voting.functions.hasVoted(JOB, voter.address).call()
    assert not chain.voting.functions.hasVoted(JOB, relayer).call()
    # replaying the same signature is refused (one vote per wallet)
    assert_reverts(
        chain.voting,
        "AlreadyVoted",
        lambda: chain.voting.functions.voteBySig(
            JOB, voter.address, "reject", reason, 1_700_000_000, signature
        ).transact({"from": relayer}),
    )


def test_vote_by_sig_after_direct_vote_reverts(chain: Chain) -> None:
    voter: LocalAccount = Account.create()
    alice = chain.accounts[1]
    chain.give(voter.address, UNIT)
    chain.give(alice, UNIT)
    send(chain.voting.functions.createProposal(JOB), chain.owner)
    chain.vote(alice, True)
    # alice cannot add a signed vote after her direct one
    alice_key = chain.tester.backend.account_keys[1]
    assert alice_key.public_key.to_checksum_address() == alice
    message = typed_vote(chain.w3.eth.chain_id, chain.voting.address, JOB, alice, "approve")
    signature = bytes(Account.sign_typed_data(alice_key.to_bytes(), full_message=message).signature)
    assert_reverts(
        chain.voting,
        "AlreadyVoted",
        lambda: chain.voting.functions.voteBySig(
            JOB, alice, "approve", "", 1_700_000_000, signature
        ).transact({"from": chain.owner}),
    )


def test_vote_by_sig_rejects_foreign_signatures(chain: Chain) -> None:
    voter: LocalAccount = Account.create()
    other: LocalAccount = Account.create()
    relayer = chain.accounts[6]
    chain.give(voter.address, UNIT)
    chain.propose(JOB)
    chain.propose(JOB2)
    chain_id = chain.w3.eth.chain_id
    # a second voting contract on the same token: same name and version, another domain
    second = deploy(chain.w3, chain.owner, initial_supply=0)
    foreign_voting = chain.w3.eth.contract(
        abi=load_artifact("SoulvanUpgradeVoting").abi,
        bytecode=load_artifact("SoulvanUpgradeVoting").bytecode,
    )
    receipt = send(
        foreign_voting.constructor(chain.owner, chain.token.address, PERIOD, 0), chain.owner
    )
    assert second.voting != receipt["contractAddress"]

    def relay(
        signature: bytes, *, voter_address: str = voter.address, choice: str = "approve"
    ) -> Any:
        return chain.voting.functions.voteBySig(
            JOB, voter_address, choice, "", 1_700_000_000, signature
        ).transact({"from": relayer})

    forged = {
        "another proposal": typed_vote(
            chain_id, chain.voting.address, JOB2, voter.address, "approve"
        ),
        "another contract": typed_vote(
            chain_id, receipt["contractAddress"], JOB, voter.address, "approve"
        ),
        "another chain": typed_vote(
            chain_id + 1, chain.voting.address, JOB, voter.address, "approve"
        ),
        "another choice": typed_vote(chain_id, chain.voting.address, JOB, voter.address, "reject"),
        "another reason": typed_vote(
            chain_id, chain.voting.address, JOB, voter.address, "approve", "x"
        ),
        "another timestamp": typed_vote(
            chain_id, chain.voting.address, JOB, voter.address, "approve", "", 1
        ),
    }
    for label, message in forged.items():
        signature = sign_vote(voter, message)
        try:
            assert_reverts(chain.voting, "InvalidSignature", lambda s=signature: relay(s))
        except AssertionError as exc:
            raise AssertionError(label) from exc

    good = typed_vote(chain_id, chain.voting.address, JOB, voter.address, "approve")
    # signed by someone else than the claimed voter
    assert_reverts(chain.voting, "InvalidSignature", lambda: relay(sign_vote(other, good)))
    signature = sign_vote(voter, good)
    # malformed: short, and the malleable high-s twin of a valid signature
    assert_reverts(chain.voting, "InvalidSignature", lambda: relay(signature[:64]))
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    twin = r + (n - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    assert_reverts(chain.voting, "InvalidSignature", lambda: relay(twin))
    # a valid signature of a voter without tokens at the snapshot
    assert_reverts(
        chain.voting,
        "NoVotingPower",
        lambda: relay(
            sign_vote(
                other, typed_vote(chain_id, chain.voting.address, JOB, other.address, "approve")
            ),
            voter_address=other.address,
        ),
    )
    relay(signature)  # the genuine one still works
    assert chain.voting.functions.hasVoted(JOB, voter.address).call()


def test_vote_by_sig_invalid_choice(chain: Chain) -> None:
    voter: LocalAccount = Account.create()
    chain.give(voter.address, UNIT)
    chain.propose()
    for choice in ("maybe", "Approve", ""):
        message = typed_vote(
            chain.w3.eth.chain_id, chain.voting.address, JOB, voter.address, choice
        )
        signature = sign_vote(voter, message)
        assert_reverts(
            chain.voting,
            "InvalidChoice",
            lambda c=choice, s=signature: chain.voting.functions.voteBySig(
                JOB, voter.address, c, "", 1_700_000_000, s
            ).transact({"from": chain.owner}),
        )


# --- gas ----------------------------------------------------------------------------------


def measure_vote_gas(reason: str = "r" * 100) -> dict[str, int]:
    """Gas used by one direct and one relayed vote, each the first vote on its own proposal.

    A record the benchmarks can reuse: `{"voteOnUpgrade": ..., "voteBySig": ...}`. A first
    vote pays for the side's tally slots going from zero; later votes on that side cost less.
    """
    chain = Chain()
    direct = chain.accounts[1]
    signer: LocalAccount = Account.create()
    chain.give(direct, UNIT)
    chain.give(signer.address, UNIT)
    chain.propose(JOB)
    chain.propose(JOB2)
    direct_receipt = chain.vote(direct, True, reason, job=JOB)
    message = typed_vote(
        chain.w3.eth.chain_id, chain.voting.address, JOB2, signer.address, "approve", reason
    )
    relayed_receipt = send(
        chain.voting.functions.voteBySig(
            JOB2, signer.address, "approve", reason, 1_700_000_000, sign_vote(signer, message)
        ),
        chain.accounts[6],
    )
    return {
        "voteOnUpgrade": int(direct_receipt["gasUsed"]),
        "voteBySig": int(relayed_receipt["gasUsed"]),
    }


def test_vote_gas() -> None:
    gas = measure_vote_gas()
    print("vote gas:", json.dumps(gas, sort_keys=True))
    assert gas["voteOnUpgrade"] > 21_000
    assert gas["voteBySig"] > gas["voteOnUpgrade"]


# --- artifacts ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ARTIFACTS)
def test_artifact_is_fresh(name: str) -> None:
    artifact = load_artifact(name)
    assert artifact.name == name
    assert artifact.compiler["solc"].startswith("0.8.37")
    assert artifact.compiler["evmVersion"] == "cancun"
    assert artifact.compiler["optimizer"] == {"enabled": True, "runs": 200}
    on_disk = sorted(p.name for p in CONTRACT_SOURCES.glob("*.sol"))
    assert sorted(artifact.sources_sha256) == on_disk
    for file, digest in artifact.sources_sha256.items():
        actual = hashlib.sha256((CONTRACT_SOURCES / file).read_bytes()).hexdigest()
        assert actual == digest, (
            f"contracts/src/{file} changed since the build: run `make contracts`"
        )
    assert artifact.bytecode.startswith("0x") and len(artifact.bytecode) > 2
    assert artifact.deployed_bytecode.startswith("0x") and len(artifact.deployed_bytecode) > 2


def test_voting_abi_events() -> None:
    abi = load_artifact("SoulvanUpgradeVoting").abi
    events = {
        item["name"]: ",".join(
            f"{i['type']}{' indexed' if i['indexed'] else ''}" for i in item["inputs"]
        )
        for item in abi
        if item["type"] == "event" and item["name"] != "OwnershipTransferred"
    }
    assert events == {
        "ProposalCreated": "bytes32 indexed,uint256,uint256,bool,uint256",
        "VoteCast": "bytes32 indexed,address indexed,bool,uint256,string",
        "UpgradeApplied": "bytes32 indexed,uint256,uint256",
        "UpgradeRejected": "bytes32 indexed,uint256,uint256",
        "EIP712DomainChanged": "",
    }


def test_missing_artifact_names_make_contracts() -> None:
    with pytest.raises(FileNotFoundError, match="make contracts"):
        load_artifact("NoSuchContract")


def test_relayed_only_proposals_take_only_the_owners_relays(chain: Chain) -> None:
    """One wallet one vote, but only through the platform's relays: a fresh key voting
    directly, or someone else relaying a signature, is refused."""
    voter: LocalAccount = Account.create()
    end = chain.w3.eth.get_block("latest")["timestamp"] + PERIOD
    send(chain.voting.functions.createRelayedProposal(JOB, chain.block() - 1, end, 1), chain.owner)
    assert chain.proposal()["relayedOnly"] is True
    assert_reverts(
        chain.voting,
        "RelayedOnly",
        lambda: chain.voting.functions.voteOnUpgrade(JOB, True, "").transact(
            {"from": chain.accounts[2]}
        ),
    )
    message = typed_vote(chain.w3.eth.chain_id, chain.voting.address, JOB, voter.address, "approve")
    signature = sign_vote(voter, message)
    relay = chain.voting.functions.voteBySig(
        JOB, voter.address, "approve", "", 1_700_000_000, signature
    )
    assert_reverts(chain.voting, "RelayedOnly", lambda: relay.transact({"from": chain.accounts[6]}))
    receipt = send(relay, chain.owner)
    (cast,) = chain.voting.events.VoteCast().process_receipt(receipt)
    assert cast["args"]["weight"] == 1  # no tokens needed: one vote per relayed wallet
    assert_reverts(
        chain.voting,
        "OwnableUnauthorizedAccount",
        lambda: chain.voting.functions.createRelayedProposal(
            JOB2, chain.block() - 1, end, 1
        ).transact({"from": chain.accounts[1]}),
    )
