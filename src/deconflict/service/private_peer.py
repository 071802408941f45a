"""A party's private-check peer over HTTP (issue 15): the `CoverHolder` of its plans behind three
routes, and the client the other party uses. It runs on the link between the two parties, not in the
de-confliction service: neither the service nor its operator sees a plan, a token or a result.

    GET  /v1/private/offer                  the grid, window, cover size, digest and PSI setup (JSON)
    POST /v1/private/answer?count_only=...  a PSI request (bytes) -> the PSI response (bytes)
    POST /v1/private/reveal                 {"tokens": [...], "volumes": [...]} -> {"volumes": [...]}

What a caller can learn is what the protocol allows (`io.private_check`); who may call is for the
parties' network to decide (run it behind their TLS link).
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from deconflict.io.private_check import MAX_REVEAL_TOKENS, CoverHolder, PrivateCheckError

MAX_BODY = 4 * 1024 * 1024  # bytes of one request (a PSI request of the most tokens is under 1 MiB)


def create_peer_app(holder: CoverHolder) -> FastAPI:
    app = FastAPI(title="deconflict private-check peer", version="0.1.0")

    @app.exception_handler(PrivateCheckError)
    async def refused(request: Request, error: PrivateCheckError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.get("/v1/private/offer")
    def offer() -> dict[str, Any]:
        return holder.offer()

    @app.post("/v1/private/answer")
    async def answer(request: Request, count_only: bool = False) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise PrivateCheckError(f"request: {len(body)} bytes, at most {MAX_BODY}")
        return Response(holder.answer(body, reveal=not count_only), media_type="application/octet-stream")

    @app.post("/v1/private/reveal")
    async def reveal(request: Request) -> dict[str, Any]:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise PrivateCheckError(f"reveal: {len(body)} bytes, at most {MAX_BODY}")
        try:
            data = await request.json()
            tokens, volumes = data["tokens"], data["volumes"]
        except (ValueError, KeyError, TypeError):
            raise PrivateCheckError(f"reveal: expected {{\"tokens\": [at most {MAX_REVEAL_TOKENS}], "
                                    f"\"volumes\": [...]}}") from None
        if not isinstance(volumes, list):
            raise PrivateCheckError("reveal: volumes must be a list")
        return {"volumes": holder.reveal(tokens, volumes)}

    return app


class PeerClient:
    """The other party's peer, as `PrivateChecker.check` calls it; counts the bytes exchanged."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self.url = url
        self.sent = self.received = 0

    def offer(self) -> dict[str, Any]:
        answer = self._call("GET", "/v1/private/offer")
        return answer.json()

    def answer(self, request: bytes, reveal: bool) -> bytes:
        self.sent += len(request)
        answer = self._call("POST", "/v1/private/answer", content=request,
                            params={"count_only": str(not reveal).lower()},
                            headers={"Content-Type": "application/octet-stream"})
        return answer.content

    def reveal(self, tokens: list[str], volumes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = self._call("POST", "/v1/private/reveal", json={"tokens": tokens, "volumes": volumes})
        return answer.json()["volumes"]

    def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            answer = self.client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise PrivateCheckError(f"peer {self.url}: {error.__class__.__name__}: {error}") from None
        self.received += len(answer.content)
        if answer.status_code != 200:
            detail = answer.json().get("detail") if answer.headers.get("content-type", "").startswith(
                "application/json") else answer.text[:200]
            raise PrivateCheckError(f"peer {self.url}: {answer.status_code}: {detail}")
        return answer

    def close(self) -> None:
        self.client.close()
