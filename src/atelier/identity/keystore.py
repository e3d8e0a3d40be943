"""Wallet key generation and encrypted keystores (EVM and Solana).

EVM keys use Web3 Secret Storage v3 with scrypt, exactly as geth and eth-account write them.
Solana keys (32-byte ed25519 seeds) go in the same envelope, with `chain: "solana"` and the
base58 public key as `address`; the envelope's MAC protects the seed the same way. A
plaintext private key is never written anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keyfile.keyfile import create_keyfile_json, decode_keyfile_json
from solders.keypair import Keypair

from atelier.core.secrets import write_private_file
from atelier.identity.styles import TRUCK_STYLES

Chain = Literal["evm", "solana"]
CHAINS: tuple[Chain, ...] = ("evm", "solana")
MIN_PASSPHRASE = 8


class KeystoreError(Exception):
    """A keystore cannot be created or opened; the message is fit for the user."""


@dataclass(frozen=True)
class CreatedWallet:
    chain: Chain
    address: str
    style: str
    profile_path: Path
    keystore_path: Path


def _check_choice(chain: str, style: str) -> None:
    if chain not in CHAINS:
        raise KeystoreError(f"unknown chain {chain!r}; choose one of: {', '.join(CHAINS)}")
    if style not in TRUCK_STYLES:
        raise KeystoreError(f"unknown style {style!r}; choose one of: {', '.join(TRUCK_STYLES)}")


def encrypt_secret(chain: Chain, secret: bytes, passphrase: str) -> dict[str, Any]:
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeystoreError(f"passphrase must be at least {MIN_PASSPHRASE} characters")
    # eth_keyfile annotates the password as str but hashes bytes, as eth-account passes it.
    keystore: dict[str, Any] = create_keyfile_json(
        secret,
        passphrase.encode(),  # type: ignore[arg-type]
        kdf="scrypt",
    )
    if chain == "solana":
        keystore["address"] = str(Keypair.from_seed(secret).pubkey())
    keystore["chain"] = chain
    return keystore


def decrypt_secret(keystore: dict[str, Any], passphrase: str) -> bytes:
    try:
        secret = bytes(decode_keyfile_json(keystore, passphrase.encode()))  # type: ignore[arg-type]
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise KeystoreError("wrong passphrase for this keystore") from None
        raise KeystoreError(f"keystore is not readable: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise KeystoreError(f"keystore is malformed: missing {exc}") from None
    if address_for(keystore_chain(keystore), secret).lower() != _stored_address(keystore).lower():
        raise KeystoreError("keystore address does not match its key")
    return secret


def keystore_chain(keystore: dict[str, Any]) -> Chain:
    chain = keystore.get("chain", "evm")
    if chain not in CHAINS:
        raise KeystoreError(f"keystore names unknown chain {chain!r}")
    return chain  # type: ignore[no-any-return]


def _stored_address(keystore: dict[str, Any]) -> str:
    address = str(keystore.get("address", ""))
    if keystore_chain(keystore) == "evm" and not address.startswith("0x"):
        address = "0x" + address
    return address


def address_for(chain: Chain, secret: bytes) -> str:
    if chain == "evm":
        return str(Account.from_key(secret).address)
    return str(Keypair.from_seed(secret).pubkey())


def new_secret(chain: Chain) -> bytes:
    if chain == "evm":
        return bytes(Account.create().key)
    return bytes(Keypair().secret())


def create_wallet(chain: str, style: str, passphrase: str, out_dir: Path) -> CreatedWallet:
    """Generate a key, write its encrypted keystore and a public profile to `out_dir`."""
    _check_choice(chain, style)
    typed_chain: Chain = "evm" if chain == "evm" else "solana"
    secret = new_secret(typed_chain)
    keystore = encrypt_secret(typed_chain, secret, passphrase)
    address = address_for(typed_chain, secret)
    out_dir.mkdir(parents=True, exist_ok=True)
    keystore_path = out_dir / f"{address}.keystore.json"
    write_private_file(keystore_path, json.dumps(keystore, indent=2).encode())
    profile_path = out_dir / f"{address}.json"
    style_info = TRUCK_STYLES[style]
    profile = {
        "address": address,
        "chain": typed_chain,
        "style": style,
        "music_genre": style_info.genre,
        "created_at": datetime.now(UTC).isoformat(),
        # beside the profile: the directory can move (another disk, a backup) and still work
        "keystore": keystore_path.name,
    }
    profile_path.write_text(json.dumps(profile, indent=2) + "\n")
    return CreatedWallet(typed_chain, address, style, profile_path, keystore_path)


def load_profile(directory: Path, address: str) -> dict[str, Any]:
    path = directory / f"{address}.json"
    if not path.is_file():
        candidates = [p for p in directory.glob("*.json") if not p.name.endswith(".keystore.json")]
        match = [p for p in candidates if p.stem.lower() == address.lower()]
        if not match:
            raise KeystoreError(f"no wallet profile for {address} in {directory}")
        path = match[0]
    profile: dict[str, Any] = json.loads(path.read_text())
    return profile


def load_keystore(profile: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The keystore a profile names: a file beside it (profiles written before 0.1 held an
    absolute path, which is still read)."""
    keystore_path = directory / (profile.get("keystore") or f"{profile['address']}.keystore.json")
    if not keystore_path.is_file():
        raise KeystoreError(f"keystore file {keystore_path} is missing")
    try:
        data: dict[str, Any] = json.loads(keystore_path.read_text())
    except json.JSONDecodeError:
        raise KeystoreError(f"keystore file {keystore_path} is not JSON") from None
    return data


def sign_typed_data(secret: bytes, typed: dict[str, Any]) -> str:
    """An EIP-712 signature by an EVM key (what a wallet's eth_signTypedData_v4 returns)."""
    from eth_account.messages import encode_typed_data

    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=secret)
    return "0x" + bytes(signed.signature).hex()


def sign_text(chain: Chain, secret: bytes, message: str) -> str:
    """Sign a human-readable message the way wallets do (EIP-191 / ed25519 over UTF-8)."""
    if chain == "evm":
        signed = Account.sign_message(encode_defunct(text=message), private_key=secret)
        return "0x" + bytes(signed.signature).hex()
    return str(Keypair.from_seed(secret).sign_message(message.encode()))


def unlock_evm_wallet(directory: Path, address: str, passphrase: str) -> bytes:
    """The private key of an EVM wallet made by `atelier wallet create` (in memory only)."""
    keystore = load_keystore(load_profile(directory, address), directory)
    if keystore_chain(keystore) != "evm":
        raise KeystoreError("artifact proofs and votes are EIP-712: use an EVM wallet")
    return decrypt_secret(keystore, passphrase)
