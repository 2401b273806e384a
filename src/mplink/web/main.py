"""The app as uvicorn's factory builds it in each worker process (``mplink serve --workers N``)."""

from __future__ import annotations

from fastapi import FastAPI

from mplink.config import Settings
from mplink.web.app import create_app


def app_from_env() -> FastAPI:
    return create_app(Settings.from_env())
