"""Run the sandbox: build the marketplace from a catalog, deliver its events, serve it with uvicorn."""

from __future__ import annotations

import threading
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
