"""Run the sandbox: build the marketplace from a catalog, deliver its events, serve it with uvicorn."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from mplink.sandbox.app import create_app
from mplink.sandbox.catalog import Catalog
from mplink.sandbox.events import EventDispatcher, SnsPublisher
from mplink.sandbox.marketplace import Marketplace, SandboxSettings
from mplink.sandbox.persist import StateFile


@dataclass
class Sandbox:
    market: Marketplace
    dispatcher: EventDispatcher
    app: FastAPI
    state: StateFile
    _stop: threading.Event
    sns: SnsPublisher | None = None

    def set_public_url(self, url: str) -> None:
        """Where the sandbox is reachable (its SNS certificate URL is built from it)."""
        if self.sns is not None:
            self.sns.base_url = url

    def close(self) -> None:
        self._stop.set()
        self.dispatcher.stop()
        if self.sns is not None:
            self.sns.stop()
        self.state.close()


def build_sandbox(
    catalog: Catalog,
    state_path: str | Path = ":memory:",
    settings: SandboxSettings | None = None,
    event_endpoint: str | None = None,
    event_secret: str | None = None,
    event_queue_url: str | None = None,
    sns_endpoint: str | None = None,
    public_url: str | None = None,
) -> Sandbox:
    state = StateFile(state_path)
    market = Marketplace(catalog, state, settings)
    dispatcher = EventDispatcher(market, event_endpoint, event_secret, event_queue_url)
    dispatcher.start()
    sns = SnsPublisher(market, sns_endpoint, public_url) if sns_endpoint else None
    if sns is not None:
        sns.start()
    stop = threading.Event()

    def ticker() -> None:  # provisioning and deprovisioning happen on time even when nobody calls
        while not stop.wait(1.0):
            market.tick()

    threading.Thread(target=ticker, name="sandbox-clock", daemon=True).start()
    return Sandbox(market, dispatcher, create_app(market, dispatcher, sns), state, stop, sns)


def serve(sandbox: Sandbox, host: str, port: int) -> None:
    try:
        uvicorn.run(sandbox.app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        sandbox.close()


@contextmanager
def serve_in_thread(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the sandbox over real HTTP from a background thread while the block runs; yields its base URL.

    The socket is bound here (port 0: the kernel picks a free one), so processes running in parallel never
    race for a port. On exit the server stops and the port is closed; closing the sandbox is the caller's.
    """
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle's algorithm off only on sockets whose proto says TCP;
    # without it every answer waits about 40 ms for the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        bound_port = int(sock.getsockname()[1])
        url = f"http://{host}:{bound_port}"
        sandbox.set_public_url(url)
        config = uvicorn.Config(
            sandbox.app, host=host, port=bound_port, log_level="warning", access_log=False, lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sandbox-http", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                server.should_exit = True
                thread.join(10)
                raise RuntimeError(f"the sandbox did not start serving on {url}")
            time.sleep(0.01)
        try:
            yield url
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        sock.close()
