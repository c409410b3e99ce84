"""What the server adds to protect its users and itself: security headers on every response, and per-client rate
limits on the expensive calls (`limits`, a moving window per client address, kept in each server process)."""

from __future__ import annotations

import math
import time

from fastapi import Depends, HTTPException, Request
from limits import parse, storage, strategies

#: The page loads its script, style and photos from this server only, and no other site may frame it. The API docs
#: (/docs, /redoc: Swagger UI and ReDoc, served from this server by fastapi-offline) start with an inline script, so
#: they get the headers but not this policy.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer")]
UNCONSTRAINED = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware: nosniff, no framing and no referrer on every response, and the page's content policy."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = not scope["path"].startswith(UNCONSTRAINED)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + SECURITY_HEADERS
                if policy:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class RateLimits:
    """``limits.check("uploads", client)``: a 429 saying when to come back once a client is over its rate."""

    def __init__(self, rates: dict[str, str]):
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._rates = {kind: parse(rate) for kind, rate in rates.items()}

    def check(self, kind: str, client: str) -> None:
        rate = self._rates[kind]
        if self._limiter.hit(rate, kind, client):
            return
        reset, _ = self._limiter.get_window_stats(rate, kind, client)
        wait = max(1, math.ceil(reset - time.time()))
        raise HTTPException(429, f"too many {kind} from {client}: at most {rate}; try again in {wait} s",
                            {"Retry-After": str(wait)})


def rate_limited(kind: str):
    """A route dependency counting the request against its client's ``kind`` rate."""
    async def check(request: Request) -> None:
        request.app.state.rate_limits.check(kind, request.client.host if request.client else "unknown")
    return Depends(check)
