"""Keep the sandbox's state in a SQLite file so a restarted sandbox still knows its agreements."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

T = TypeVar("T")


def _encode(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return {"$dt": obj.isoformat()}
    raise TypeError(f"cannot store {type(obj).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$dt"}:
        return datetime.fromisoformat(obj["$dt"])
    return obj


class StateFile:
    """A key-value table per kind of object; ``:memory:`` keeps nothing between runs."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (kind TEXT, key TEXT, value TEXT, PRIMARY KEY (kind, key))")

    def put(self, kind: str, key: str, obj: object) -> None:
        data = dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) and not isinstance(obj, type) else obj
        text = json.dumps(data, default=_encode)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO kv (kind, key, value) VALUES (?, ?, ?)", (kind, key, text))

    def load(self, kind: str, cls: type[T]) -> dict[str, T]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM kv WHERE kind = ?", (kind,)).fetchall()
        hints = get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
        out: dict[str, T] = {}
        for key, text in rows:
            data = json.loads(text, object_hook=_decode)
            out[key] = cls(**{k: v for k, v in data.items() if k in hints}) if hints else data
        return out

    def get_value(self, kind: str, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return json.loads(row[0], object_hook=_decode) if row else None

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM kv")

    def close(self) -> None:
        with self._lock:
            self._db.close()
