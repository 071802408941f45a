"""A stand-in for the load balancer of `deploy/haproxy.cfg` in tests: one address that sends every request
to the node whose ``/healthz/leader`` answers 200, streaming the answer back (server-sent events
included). After a failover the next request finds the new leader."""

from __future__ import annotations

import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}


def leader_proxy(nodes: list[str], recheck: float = 0.3) -> Starlette:
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))
    found: dict[str, object] = {"url": None, "at": 0.0}

    async def leader() -> str | None:
        if found["url"] is not None and time.monotonic() - float(found["at"]) < recheck:
            return str(found["url"])
        for node in nodes:
            try:
                if (await client.get(f"{node}/healthz/leader", timeout=1.0)).status_code == 200:
                    found.update(url=node, at=time.monotonic())
                    return node
            except httpx.TransportError:
                continue
        found["url"] = None
        return None

    async def forward(request: Request) -> Response:
        body = await request.body()
        for _ in range(20):  # about 2 s to find a leader, as HAProxy's redispatch and checks would
            node = await leader()
            if node is not None:
                headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
                outgoing = client.build_request(request.method, node + request.url.path, params=request.query_params,
                                                headers=headers, content=body)
                try:
                    answer = await client.send(outgoing, stream=True)
                except httpx.TransportError:
                    found["url"] = None
                    continue
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}

                async def relay():
                    try:
                        async for chunk in answer.aiter_raw():
                            yield chunk
                    except httpx.HTTPError:
                        return  # the node went away mid-answer: the client reconnects
                    finally:
                        await answer.aclose()

                return StreamingResponse(relay(), status_code=answer.status_code, headers=kept)
            await _sleep(0.1)
        return Response("no node leads", status_code=503)

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "DELETE"])])


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
