"""Domain errors and their RFC 9457 problem+json rendering.

Services raise `AppError` subclasses; they know nothing about HTTP beyond a status code.
`type` is a stable relative URI (`/problems/<slug>`) that clients may switch on; docs/api.md
lists every slug.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        slug: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        commit: bool = False,
    ) -> None:
        super().__init__(detail)
        # True when the transaction's work must persist although the request fails
        # (a security event such as revoking a session on refresh-token reuse).
        self.commit = commit
        self.detail = detail
        self.instance_slug = slug or self.slug
        self.extra = extra or {}
        self.headers = headers or {}

    def problem(self, instance: str) -> dict[str, Any]:
        return problem_body(
            self.status, self.instance_slug, self.title, self.detail, instance, self.extra
        )


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if extra:
        body.update(extra)
    return body


class InvalidInput(AppError):
    status = 422
    slug = "invalid-input"
    title = "Invalid input"

    @classmethod
    def on_field(cls, field: str, message: str, *, slug: str) -> InvalidInput:
        """A problem with one field of the request's body, listed in `errors` as a
        validation error is (pages show it beside that field)."""
        errors = [{"loc": ["body", field], "msg": message, "type": "value_error"}]
        return cls(message, slug=slug, extra={"errors": errors})


class Unauthorized(AppError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(AppError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(AppError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class TooManyRequests(AppError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, **kwargs: Any) -> None:
        retry_after_s = max(1, retry_after_s)
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)}, **kwargs)
        self.extra.setdefault("retry_after_s", retry_after_s)


class ServiceUnavailable(AppError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"
