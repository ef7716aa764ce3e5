"""
Instrumentation for a service process under load (C{bench.web --locks}): how long its
write transactions wait for SQLite's write lock (C{BEGIN IMMEDIATE}), how long they hold
it (lock taken to C{COMMIT} done) and how long commits take, written as JSON to a file
every second. Installed before twistd starts:

    python -c "import bench.sqlitelocks as l; l.install('locks.json'); from twisted.scripts.twistd import run; run()" ...

It wraps SQLAlchemy's C{Connection.exec_driver_sql} (juego's store begins write
transactions with it) and C{DefaultDialect.do_commit}; nothing else changes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

_samples: dict[str, list[float]] = {"wait": [], "held": [], "commit": []}
_local = threading.local()


def summary() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, values in _samples.items():
        ordered = sorted(values)
        if not ordered:
            continue
        out[name] = {
            "n": len(ordered),
            "total_s": round(sum(ordered), 3),
            "mean_ms": round(sum(ordered) / len(ordered) * 1000, 3),
            "p50_ms": round(ordered[len(ordered) // 2] * 1000, 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3),
        }
    return out


def install(path: str) -> None:
    from sqlalchemy.engine import base, default

    execDriverSQL = base.Connection.exec_driver_sql
    doCommit = default.DefaultDialect.do_commit

    def timedExec(self: Any, statement: Any, *a: Any, **kw: Any) -> Any:
        if statement != "BEGIN IMMEDIATE":
            return execDriverSQL(self, statement, *a, **kw)
        started = time.perf_counter()
        result = execDriverSQL(self, statement, *a, **kw)
        now = time.perf_counter()
        _samples["wait"].append(now - started)
        _local.acquired = now
        return result

    def timedCommit(self: Any, connection: Any) -> Any:
        started = time.perf_counter()
        result = doCommit(self, connection)
        now = time.perf_counter()
        acquired = getattr(_local, "acquired", None)
        if acquired is not None:
            _samples["commit"].append(now - started)
            _samples["held"].append(now - acquired)
            _local.acquired = None
        return result

    base.Connection.exec_driver_sql = timedExec  # type: ignore[method-assign]
    default.DefaultDialect.do_commit = timedCommit  # type: ignore[method-assign]

    def dump() -> None:
        while True:
            time.sleep(1.0)
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(summary(), f)
            os.replace(path + ".tmp", path)

    threading.Thread(target=dump, name="sqlitelocks", daemon=True).start()
