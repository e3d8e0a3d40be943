"""Access tokens (JWT, HS256), opaque refresh/verification tokens and API keys.

Opaque secrets are 256-bit (API keys 192-bit) random strings; only their SHA-256 is stored.
A fast hash is right here: the input has full entropy, so there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

API_KEY_PREFIX = "atl_live_"
API_KEY_RE = re.compile(r"^atl_live_[0-9a-f]{48}$")
API_KEY_DISPLAY_CHARS = len(API_KEY_PREFIX) + 8
AUDIENCE = "atelier"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_opaque_token() -> tuple[str, str]:
    raw = secrets.token_urlsafe(32)
    return raw, sha256_hex(raw)


def new_api_key() -> tuple[str, str, str]:
    """(the key shown once, its display prefix, its hash)."""
    raw = API_KEY_PREFIX + secrets.token_hex(24)
    return raw, raw[:API_KEY_DISPLAY_CHARS], sha256_hex(raw)


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


def issue_access_token(
    key: bytes, *, user_id: uuid.UUID, session_id: uuid.UUID, issuer: str, ttl_s: int
) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_s)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm="HS256"), expires_at


class InvalidAccessToken(Exception):
    pass


def decode_access_token(key: bytes, token: str, *, issuer: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=issuer,
            options={"require": ["exp", "sub", "sid", "iss", "aud"]},
        )
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            session_id=uuid.UUID(claims["sid"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except jwt.ExpiredSignatureError:
        raise InvalidAccessToken("access token has expired") from None
    except (jwt.InvalidTokenError, ValueError, KeyError):
        raise InvalidAccessToken("access token is not valid") from None
