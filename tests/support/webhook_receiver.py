"""A real local HTTP receiver for webhook tests: a stdlib server in a thread on a loopback
port that records every request and answers with the statuses it is told to."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class Receiver:
    def __init__(self, statuses: list[int] | None = None, *, hold_first: bool = False) -> None:
        self.requests: list[ReceivedRequest] = []
        # With hold_first, the first request is recorded and then left hanging until
        # release_held() (a delivery in flight, for killing the worker that makes it).
        self.hold_first = hold_first
        self.held = threading.Event()
        self._release = threading.Event()
        # Answers in turn; 204 once they run out.
        self.statuses = list(statuses or [])
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        ReceivedRequest(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                    hold = receiver.hold_first and not receiver.held.is_set()
                    if hold:
                        receiver.held.set()
                if hold:
                    receiver._release.wait(timeout=300)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        """The `webhook_allowed_hosts` entry for this receiver."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/datahub"

    def release_held(self) -> None:
        self._release.set()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            time.sleep(0.05)
        return list(self.requests)


@contextmanager
def running_receiver(
    statuses: list[int] | None = None, *, hold_first: bool = False
) -> Iterator[Receiver]:
    receiver = Receiver(statuses, hold_first=hold_first)
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.release_held()
        receiver.server.shutdown()
        receiver.server.server_close()
