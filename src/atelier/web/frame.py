"""Rendering a page: the layout, the navigation a visitor may use, CSRF on every form, and
the static files (vendored from npm by scripts/vendor_frontend.sh; nothing from a CDN).

A page route renders with `render(request, "domain/page.html", who=..., **context)`. Forms
carry the `csrf` field the layout's `csrf_field()` writes; `check_csrf` (a dependency of every
page POST) compares it with the visitor's CSRF cookie, in constant time, and refuses a
cross-site Origin. The CSRF cookie is set on the first page a visitor gets.
"""

from __future__ import annotations

import hmac
import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from pydantic import ValidationError

from atelier.core.errors import AppError, Forbidden, NotFound

CSRF_COOKIE = "atelier_csrf"
STATIC = Path(__file__).parent / "static"
_TEMPLATE_DIRS = [Path(__file__).parent / "templates"]
_environment: Environment | None = None

router = APIRouter(include_in_schema=False)

# Only our own scripts, styles and media; forms post only here. Pages may show a fresh API
# key or a signed-in user's data: never stored by a cache.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "Cache-Control": "no-store",
    # not "no-referrer" (the API's): with it, browsers send `Origin: null` on form posts
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class NavItem:
    """A link in the navigation; `audience`: "everyone", "visitors" (not signed in),
    "members" (signed in) or a role ("validator", "admin")."""

    label: str
    href: str
    audience: str = "everyone"


@dataclass(frozen=True)
class Visitor:
    """Who a page is for, as the frame needs to know it."""

    signed_in: bool = False
    name: str | None = None
    roles: tuple[str, ...] = ()

    def sees(self, item: NavItem) -> bool:
        if item.audience == "everyone":
            return True
        if item.audience == "visitors":
            return not self.signed_in
        if item.audience == "members":
            return self.signed_in
        return item.audience in self.roles or "admin" in self.roles


NAV: list[NavItem] = []


def add_templates(directory: Path, nav: tuple[NavItem, ...] = ()) -> None:
    """A domain's templates (and its navigation links) join the site."""
    global _environment
    if directory not in _TEMPLATE_DIRS:
        _TEMPLATE_DIRS.append(directory)
        _environment = None
    for item in nav:
        if item not in NAV:
            NAV.append(item)


def environment() -> Environment:
    global _environment
    if _environment is None:
        _environment = Environment(
            loader=FileSystemLoader([str(d) for d in _TEMPLATE_DIRS]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _environment.filters["http_link"] = http_link
    return _environment


def http_link(value: object) -> str:
    """`value` if it is an http(s) URL with a host, else "": a URL from outside (a cast's
    embed, its channel) must not become a javascript: or data: link on our pages."""
    text = str(value)
    parts = urlsplit(text)
    return text if parts.scheme in ("http", "https") and parts.netloc else ""


def csrf_token(request: Request) -> str:
    """The visitor's CSRF token (made on the first page they get; see `render`)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.csrf = token
    return str(token)


def render(
    request: Request,
    template: str,
    *,
    who: Visitor | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    visitor = who or Visitor()
    token = csrf_token(request)
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            visitor=visitor,
            nav=[item for item in NAV if visitor.sees(item)],
            path=request.url.path,
            csrf_field=Markup('<input type="hidden" name="csrf" value="{}">').format(token),
            csrf=token,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    return finish(request, response, token)


def fragment(template: str, **context: Any) -> str:
    """A piece of a page (an htmx swap, a server-sent event's data), without the layout."""
    return environment().get_template(template).render(**context)


def fragment_response(template: str, **context: Any) -> HTMLResponse:
    """A fragment as its own response (what a live page fetches again), under the pages'
    headers: opened directly, it is held to the same content policy as they are."""
    return HTMLResponse(fragment(template, **context), headers=PAGE_HEADERS)


def sse_event(name: str, html: str) -> bytes:
    """A server-sent event carrying `html` (each line its own `data:` line)."""
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n".encode()


def redirect(request: Request, url: str) -> Response:
    """See other (after a form post), with whatever the page's dependencies set."""
    return finish(request, Response(status_code=303, headers={"Location": url}))


def finish(request: Request, response: Response, token: str | None = None) -> Response:
    """What dependencies asked to add to a page's response (refreshed session cookies), and
    the visitor's CSRF cookie."""
    for hook in getattr(request.state, "page_hooks", ()):
        hook(response)
    token = token or csrf_token(request)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


def on_response(request: Request, hook: Any) -> None:
    """Have `hook(response)` run on the page's response (a dependency's cookies)."""
    hooks = getattr(request.state, "page_hooks", None)
    if hooks is None:
        hooks = request.state.page_hooks = []
    hooks.append(hook)


async def check_csrf(request: Request, csrf: str = Form(default="")) -> None:
    """Every page form post: the form's token must be the visitor's, from this site."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
        raise Forbidden(
            "the form expired or came from another site; reload the page and send it again",
            slug="csrf-failed",
        )
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("a form from another site", slug="csrf-failed")


def field_errors(exc: AppError | ValidationError) -> dict[str, str]:
    """A problem as a page shows it: each message beside the field it concerns (by the last
    part of its `loc`), the rest under "_" at the top of the form."""
    errors: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        items = [{"loc": list(e["loc"]), "msg": _form_message(str(e["msg"]))} for e in exc.errors()]
    else:
        items = list(exc.extra.get("errors") or [])
    for item in items:
        loc = item.get("loc") or []
        name = str(loc[-1]) if loc else "_"
        errors.setdefault(name, str(item.get("msg", "invalid")))
    if isinstance(exc, AppError) and not items:
        errors["_"] = exc.detail
    return errors


async def check_csrf_header(request: Request) -> None:
    """A page script's JSON post: the token comes in the `X-CSRF-Token` header."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get("x-csrf-token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise Forbidden("the page expired; reload it and try again", slug="csrf-failed")
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("a request from another site", slug="csrf-failed")


def _form_message(message: str) -> str:
    """pydantic's message as a form shows it (a form has no JSON types to speak of)."""
    message = message.removeprefix("Value error, ")
    return "must be a number" if message == "must be a JSON number, not a string" else message


def _static_files() -> dict[str, Path]:
    """Every file the site serves, by name: nothing outside this folder can be asked for."""
    return {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}


_FILES = _static_files()


@router.get("/static/{name:path}")
async def static(name: str) -> Response:
    path = _FILES.get(name)
    if path is None:
        raise NotFound("no such file", slug="not-found")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".LICENSE":
        media_type = "text/plain"
    return Response(
        path.read_bytes(),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )
