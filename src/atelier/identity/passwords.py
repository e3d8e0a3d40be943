"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile

MIN_LENGTH = 10
MAX_LENGTH = 128  # argon2 cost is per byte of input; cap it before hashing
_COMMON = frozenset(
    {
        "password",
        "password1",
        "password123",
        "passw0rd",
        "qwertyuiop",
        "1234567890",
        "12345678910",
        "iloveyou",
        "letmein123",
        "welcome123",
        "administrator",
        "qwerty123",
        "abc1234567",
        "changeme123",
        "trustno1234",
        "football123",
        "monkey1234",
        "atelier123",
    }
)


def password_problems(password: str, email: str | None = None) -> list[str]:
    """Reasons `password` is too weak; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 2 and len(password) < 20:
        problems.append("must mix at least two of: lowercase, uppercase, digits, symbols")
    if password.lower() in _COMMON or len(set(password)) < 4:
        problems.append("is too common or repetitive")
    local_part = email.split("@", 1)[0].lower() if email else ""
    if len(local_part) >= 3 and local_part in password.lower():
        problems.append("must not contain your email name")
    return problems


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(check)


_DUMMY_HASH = _hasher.hash("timing-equaliser-not-a-password")


async def burn_verify_time(password: str) -> None:
    """Spend a real verification on unknown accounts so login time does not reveal them."""
    await verify_password(_DUMMY_HASH, password)
