"""Every route's guard: request bodies capped (413 before a route reads anything) and the security
headers on every answer. An ASGI middleware, so that it holds for the map's static files too."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from deconflict.service.limits import MAX_BODY, MAX_PLAN_BATCH_BODY, MAX_TRACK_BODY


def _body_limit(method: str, path: str) -> int:
    if method == "POST" and path == "/v1/tracks":
        return MAX_TRACK_BODY
    if method == "POST" and path in ("/v1/plans/batch", "/v1/plans/check"):
        return MAX_PLAN_BATCH_BODY
    return MAX_BODY


CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")


class Hardening:
    """ASGI middleware for every route: request bodies capped (413 as soon as the cap is known to be
    passed, before the route reads anything) and security headers on every answer (CSP, nosniff,
    no framing, no referrer; ``no-store`` on API answers, which carry a party's data)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = _body_limit(scope["method"], scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        api = scope["path"].startswith("/v1/") or scope["path"] in ("/healthz", "/healthz/leader", "/metrics",
                                                                   "/openapi.json")
        too_large = {"detail": f"request body: at most {limit // 2**20} MiB on this route; split it"}

        async def secured(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                extra = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                         (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
                if api:
                    extra.append((b"cache-control", b"no-store"))
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *[(k, v) for k, v in extra if k not in names]]
            await send(message)

        if declared.isdigit() and int(declared) > limit:
            return await JSONResponse(too_large, status_code=413)(scope, receive, secured)
        seen = 0

        async def capped():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # an HTTPException passes FastAPI's body parsing as it is
                    raise HTTPException(413, too_large["detail"])
            return message

        await self.app(scope, capped, secured)
