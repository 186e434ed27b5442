"""The app served by uvicorn in a thread on a loopback port."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

from .environment import free_port


class LiveServer:
    """The app served by uvicorn in a thread on a loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # As `serve` runs it: X-Forwarded-* is the app's to judge (DATAHUB_TRUSTED_PROXIES).
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", proxy_headers=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
