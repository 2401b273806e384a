"""The buyer console (placeholder until the pages land)."""

from __future__ import annotations

from fastapi import FastAPI

from mplink.sandbox.marketplace import Marketplace


def mount_console(app: FastAPI, market: Marketplace) -> None:
    @app.get("/console")
    def console_home() -> dict[str, str]:
        return {"console": "coming"}
