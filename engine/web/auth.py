"""Who is asking: a token in a header, a cookie, or once in the URL (then moved to a cookie).

Two tokens: ``token`` lets a supervisor in (numbers masked); ``privileged_token`` also lets
in, and shows personal data unmasked only when the hotline set ``show_personal_data``. Tokens
are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

COOKIE = "hotline_token"
HEADER = "X-Hotline-Token"


@dataclass(frozen=True)
class Viewer:
    privileged: bool
    reveal: bool  # personal data shown unmasked


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header ("" if it is empty), None without one."""
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def presented_token(request: web.Request) -> str:
    bearer = bearer_token(request)
    if bearer is not None:
        return bearer
    return (
        request.headers.get(HEADER)
        or request.cookies.get(COOKIE)
        or request.query.get("token", "")
    )


def check(token: str, *, viewer_token: str, privileged_token: str, show_personal_data: bool) -> Viewer | None:
    if not token:
        return None
    t = token.encode()
    if privileged_token and hmac.compare_digest(t, privileged_token.encode()):
        return Viewer(privileged=True, reveal=show_personal_data)
    if viewer_token and hmac.compare_digest(t, viewer_token.encode()):
        return Viewer(privileged=False, reveal=False)
    return None
