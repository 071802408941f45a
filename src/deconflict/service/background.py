"""The API served by uvicorn on a thread of this process: for the demo, tests and benchmarks."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

from deconflict.service.errors import ServiceError


class ServerError(ServiceError):
    """The server could not start (the port is taken...)."""


class BackgroundServer:
    """``with BackgroundServer(app, port=8000) as url:`` serves ``app`` on 127.0.0.1 until the block ends."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="server", daemon=True)

    def start(self, timeout: float = 60.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ServerError(f"the service could not start on {self.url} (port in use?)")
            time.sleep(0.02)
        return self.url

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C)."""
        self.thread.join()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
