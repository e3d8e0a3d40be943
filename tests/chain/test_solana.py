"""The Solana adapter on LiteSVM: SPL NFTs (supply 1, authority revoked), Metaplex's account
layout byte for byte against Metaplex's own serialiser, the embedded runtime's journal, stale
blockhashes, and the embedded JSON-RPC endpoint."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from atelier.chain.solana import metaplex, programs
from atelier.chain.solana.client import (
    BlockhashExpired,
    RpcSolana,
    TransactionRejected,
    send_fresh,
)
from atelier.chain.solana.embedded import EmbeddedSolana, RuntimeInUse
from tests.conftest import make_settings

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "metaplex_reference.json").read_text())
SOL = programs.LAMPORTS_PER_SOL


def _signed(payer: Keypair, instructions: list, signers: list[Keypair], blockhash) -> Transaction:  # type: ignore[no-untyped-def]
    return Transaction(
        signers, Message.new_with_blockhash(instructions, payer.pubkey(), blockhash), blockhash
    )


@pytest.fixture
async def solana(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    runtime = EmbeddedSolana(make_settings(tmp_path, database_url))
    yield runtime
    runtime.close()


async def _mint_nft(solana: EmbeddedSolana, owner: Keypair) -> Pubkey:
    mint = Keypair()
    rent = await solana.rent_exempt(programs.MINT_SIZE)
    instructions = programs.mint_nft_instructions(
        owner.pubkey(), mint.pubkey(), owner.pubkey(), rent
    )
    await send_fresh(solana, lambda h: _signed(owner, instructions, [owner, mint], h))
    return mint.pubkey()


async def test_an_nft_is_one_token_forever(solana: EmbeddedSolana) -> None:
    owner = Keypair()
    await solana.airdrop(owner.pubkey(), 10 * SOL)
    mint = await _mint_nft(solana, owner)
    state = programs.parse_mint(bytes((await solana.account(mint)).data))  # type: ignore[union-attr]
    assert state is not None
    assert (state.supply, state.decimals, state.mint_authority) == (1, 0, None)
    holding = await solana.account(programs.associated_token_address(owner.pubkey(), mint))
    assert programs.parse_token_account(bytes(holding.data)).amount == 1  # type: ignore[union-attr]
    # the former authority cannot mint a second one
    again = [
        programs.mint_to(
            mint, programs.associated_token_address(owner.pubkey(), mint), owner.pubkey(), 1
        )
    ]
    recent = await solana.latest_blockhash()
    with pytest.raises(TransactionRejected):
        await solana.send(_signed(owner, again, [owner], recent.blockhash))


async def test_a_stale_blockhash_is_refused_and_send_fresh_builds_again(
    solana: EmbeddedSolana,
) -> None:
    payer, to = Keypair(), Keypair()
    await solana.airdrop(payer.pubkey(), 10 * SOL)
    old = (await solana.latest_blockhash()).blockhash
    solana.expire_blockhash()
    pay = [programs.pay(payer.pubkey(), to.pubkey(), SOL)]
    with pytest.raises(BlockhashExpired):
        await solana.send(_signed(payer, pay, [payer], old))
    built: list[object] = []

    def build(blockhash):  # type: ignore[no-untyped-def]
        built.append(blockhash)
        if len(built) == 1:
            solana.expire_blockhash()  # time passes between building and sending
        return _signed(payer, pay, [payer], blockhash)

    signature = await send_fresh(solana, build)
    assert len(built) == 2
    assert built[0] != built[1]
    assert (await solana.status(signature)).confirmation == "finalized"  # type: ignore[union-attr]
    assert await solana.balance(to.pubkey()) == SOL


async def test_a_transaction_signed_for_someone_else_does_not_land(solana: EmbeddedSolana) -> None:
    buyer, thief = Keypair(), Keypair()
    await solana.airdrop(buyer.pubkey(), 10 * SOL)
    recent = await solana.latest_blockhash()
    message = Message.new_with_blockhash(
        [programs.pay(buyer.pubkey(), thief.pubkey(), SOL)], buyer.pubkey(), recent.blockhash
    )
    forged = Transaction.populate(message, [thief.sign_message(bytes(message))])
    with pytest.raises(TransactionRejected):
        await solana.send(forged)
    assert await solana.balance(thief.pubkey()) == 0


async def test_state_survives_a_restart(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url)
    first = EmbeddedSolana(settings)
    owner = Keypair()
    await first.airdrop(owner.pubkey(), 5 * SOL)
    mint = await _mint_nft(first, owner)
    slot = await first.slot()
    with pytest.raises(RuntimeInUse):
        EmbeddedSolana(settings)
    first.close()
    again = EmbeddedSolana(settings)
    try:
        assert await again.slot() == slot
        assert 4 * SOL < await again.balance(owner.pubkey()) < 5 * SOL
        holding = await again.account(programs.associated_token_address(owner.pubkey(), mint))
        assert programs.parse_token_account(bytes(holding.data)).amount == 1  # type: ignore[union-attr]
        found = await again.signatures_for(mint)
        assert len(found) == 1
    finally:
        again.close()


async def test_a_torn_journal_tail_is_dropped(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url)
    first = EmbeddedSolana(settings)
    owner = Keypair()
    await first.airdrop(owner.pubkey(), 5 * SOL)
    first.close()
    journal = tmp_path / "solana" / "state.journal"
    journal.write_bytes(journal.read_bytes() + b"A\x20\x00\x00\x00garbage")
    again = EmbeddedSolana(settings)
    try:
        assert await again.balance(owner.pubkey()) == 5 * SOL
    finally:
        again.close()


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: c["name"])
def test_metadata_account_bytes_match_metaplex(case: dict) -> None:  # type: ignore[type-arg]
    fields = case["fields"]
    creators = [
        metaplex.Creator(Pubkey.from_string(c["address"]), c["share"]) for c in fields["creators"]
    ]
    collection = (
        metaplex.CollectionRef(Pubkey.from_string(fields["collection"]))
        if fields["collection"]
        else None
    )
    metadata = metaplex.Metadata(
        update_authority=Pubkey.from_string(fields["update_authority"]),
        mint=Pubkey.from_string(fields["mint"]),
        name=fields["name"],
        symbol=fields["symbol"],
        uri=fields["uri"],
        seller_fee_basis_points=fields["seller_fee_basis_points"],
        creators=creators,
        collection=collection,
    )
    reference = bytes.fromhex(case["account_hex"])
    encoded = metaplex.encode_metadata_account(metadata)
    assert len(encoded) == metaplex.MAX_METADATA_LEN
    assert encoded == reference.ljust(metaplex.MAX_METADATA_LEN, b"\x00")
    assert metaplex.decode_metadata_account(encoded) == metadata
    instruction = metaplex.create_metadata_account_v3(
        mint=metadata.mint,
        mint_authority=metadata.update_authority,
        payer=metadata.update_authority,
        update_authority=metadata.update_authority,
        name=metadata.name,
        symbol=metadata.symbol,
        uri=metadata.uri,
        seller_fee_basis_points=metadata.seller_fee_basis_points,
        creators=creators,
        collection=collection,
    )
    assert bytes(instruction.data) == bytes.fromhex(case["instruction_hex"])
    assert instruction.accounts[0].pubkey == metaplex.metadata_address(metadata.mint)


def test_metadata_pda_matches_metaplex() -> None:
    for mint, pda in REFERENCE["pda"].items():
        assert str(metaplex.metadata_address(Pubkey.from_string(mint))) == pda


@pytest.mark.parametrize(
    ("name", "symbol", "fee", "shares", "problem"),
    [
        ("x" * 33, "S", 0, [100], "name"),
        ("é" * 17, "S", 0, [100], "name"),  # 34 bytes in UTF-8
        ("ok", "SYMBOLTOOLONG", 0, [100], "symbol"),
        ("ok", "S", 10_001, [100], "seller_fee"),
        ("ok", "S", 0, [50, 40], "sum to 100"),
        ("ok", "S", 0, [20, 20, 20, 20, 10, 10], "at most 5"),
        ("bad\x00", "S", 0, [100], "NUL"),
    ],
)
def test_metadata_over_the_limits_is_refused(
    name: str, symbol: str, fee: int, shares: list[int], problem: str
) -> None:
    creators = [metaplex.Creator(Keypair().pubkey(), share) for share in shares]
    with pytest.raises(metaplex.MetadataError, match=problem):
        metaplex.check_fields(name, symbol, "https://x", fee, creators)


async def test_a_metadata_account_put_in_place_reads_back(solana: EmbeddedSolana) -> None:
    owner = Keypair()
    await solana.airdrop(owner.pubkey(), 5 * SOL)
    mint = await _mint_nft(solana, owner)
    metadata = metaplex.Metadata(
        owner.pubkey(),
        mint,
        "Atelier #7",
        "ATLR",
        "https://x/7.json",
        250,
        [metaplex.Creator(owner.pubkey(), 100)],
    )
    data = metaplex.encode_metadata_account(metadata)
    pda = metaplex.metadata_address(mint)
    await solana.set_account(
        pda,
        Account(
            await solana.rent_exempt(len(data)), data, metaplex.TOKEN_METADATA_PROGRAM, False, 0
        ),
    )
    read = await solana.account(pda)
    assert read is not None
    assert read.owner == metaplex.TOKEN_METADATA_PROGRAM
    assert metaplex.decode_metadata_account(bytes(read.data)) == metadata


def test_a_cut_or_corrupt_metadata_account_is_refused() -> None:
    metadata = metaplex.Metadata(Keypair().pubkey(), Keypair().pubkey(), "n", "s", "u", 0)
    data = metaplex.encode_metadata_account(metadata)
    with pytest.raises(metaplex.MetadataError):
        metaplex.decode_metadata_account(data[:50])
    with pytest.raises(metaplex.MetadataError):
        metaplex.decode_metadata_account(b"\x05" + data[1:])
    with pytest.raises(metaplex.MetadataError):
        metaplex.decode_metadata_account(data[:65] + (10_000).to_bytes(4, "little") + data[69:])


async def test_the_embedded_rpc_serves_this_machine_only(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    remote = httpx.ASGITransport(app=app, client=("203.0.113.9", 5555))
    async with httpx.AsyncClient(transport=remote, base_url=str(client.base_url)) as http:
        refused = await http.post("/solana/rpc", json={"id": 1, "method": "getSlot"})
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/not-local"
    # a proxy on this machine handing over someone else's request: loopback, yet not local
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        proxied = await client.post(
            "/solana/rpc", json={"id": 1, "method": "getSlot"}, headers={header: "203.0.113.9"}
        )
        assert proxied.status_code == 403, header
    assert (
        await client.post("/solana/rpc", json={"id": 1, "method": "getSlot"})
    ).status_code == 200


async def test_rpc_methods_over_loopback(client: httpx.AsyncClient) -> None:
    """solana-style JSON-RPC works with our RPC client; the faucet is capped; bad
    parameters are JSON-RPC errors, not 500s."""
    rpc = RpcSolana(f"{client.base_url}/solana/rpc")
    rpc._http = client
    payer, to = Keypair(), Keypair()
    refused = (
        await client.post(
            "/solana/rpc",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "requestAirdrop",
                "params": [str(payer.pubkey()), 10**12],
            },
        )
    ).json()
    assert refused["error"]["code"] == -32602  # more than the faucet gives
    other = (
        await client.post("/solana/rpc", json={"id": 9, "method": "eth_sendTransaction"})
    ).json()
    assert other["error"]["code"] == -32601
    bad = (
        await client.post(
            "/solana/rpc",
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "getBalance",
                "params": ["not an address\x00"],
            },
        )
    ).json()
    assert bad["error"]["code"] == -32602
    junk = (
        await client.post(
            "/solana/rpc",
            json={
                "jsonrpc": "2.0",
                "id": 3,
                "method": "sendTransaction",
                "params": [base64.b64encode(b"\x01" * 2000).decode(), {"encoding": "base64"}],
            },
        )
    ).json()
    assert junk["error"]["code"] == -32602
    assert (await client.post("/solana/rpc", content=b"{nope")).status_code == 422
    # an unfunded payer's transfer is refused with the runtime's reason
    recent = await rpc.latest_blockhash()
    with pytest.raises(TransactionRejected):
        await rpc.send(
            _signed(
                payer, [programs.pay(payer.pubkey(), to.pubkey(), SOL)], [payer], recent.blockhash
            )
        )
    assert await rpc.balance(to.pubkey()) == 0
    assert await rpc.slot() >= 0
    assert await rpc.rent_exempt(0) > 0


def test_bubblegum_leaf_and_mint_match_metaplex() -> None:
    """Compressed NFTs: our leaf schema and mint_v1 bytes equal mpl-bubblegum's (they are
    not run on chain: LiteSVM has no Bubblegum)."""
    from atelier.chain.solana import bubblegum

    ref = json.loads((Path(__file__).parent / "fixtures" / "bubblegum_reference.json").read_text())
    args = bubblegum.MetadataArgs(
        name=ref["name"],
        symbol=ref["symbol"],
        uri=ref["uri"],
        seller_fee_basis_points=ref["fee"],
        creators=[metaplex.Creator(Pubkey.from_string(a), share) for a, share in ref["creators"]],
        collection=metaplex.CollectionRef(Pubkey.from_string(ref["collection"])),
    )
    tree, owner = Pubkey.from_string(ref["tree"]), Pubkey.from_string(ref["owner"])
    assert str(bubblegum.asset_id(tree, ref["nonce"])) == ref["asset_id"]
    assert str(bubblegum.tree_config(tree)) == ref["tree_config"]
    assert bubblegum.data_hash(args).hex() == ref["data_hash"]
    assert bubblegum.creator_hash(args.creators).hex() == ref["creator_hash"]
    assert bubblegum.leaf_hash(tree, ref["nonce"], owner, args).hex() == ref["leaf_hash"]
    instruction = bubblegum.mint_v1(
        merkle_tree=tree, owner=owner, payer=owner, tree_authority=owner, args=args
    )
    assert bytes(instruction.data).hex() == ref["mint_v1_data"]
    assert instruction.program_id == bubblegum.BUBBLEGUM_PROGRAM
