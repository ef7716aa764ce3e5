"""
Stats cost does not grow with the data: C{get_user_stats} and C{get_global_stats}
latency against a real C{twistd -n juego-dist} on a small and a large SQLite database
(10k and 1M players; C{quick}: 1k and 100k), and the large/small ratios (target ≤ 3).

The databases are bulk-loaded with SQL (a recursive CTE, no Python loop per row) into
C{bench/out/}, consistent with the invariants of L{juego.store.scores}: every player has
an aggregates row; each player who played has 1–3 score rows, the first one their best
(so C{fecha_maximo} is that game's time) and the last one their last game; C{best_counts},
C{activity_days} and C{totals} are computed from the aggregates. A database already
built by the same version of this script is reused.

Run: C{python -m bench.stats [--quick] [--requests N]}; or L{run} from the bench runner.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.processes import ServiceProcess, freePort

CHECKOUT = Path(__file__).resolve().parent.parent
OUT = CHECKOUT / "bench" / "out"
#: Bump when the generated data changes, so old databases are rebuilt.
DATA_VERSION = "stats-v2"
SIZES = (10_000, 1_000_000)
QUICK_SIZES = (1_000, 100_000)
REQUESTS = 2000
QUICK_REQUESTS = 500
WARMUP = 200
ROUNDS = 5
#: Seconds between a player's games in the generated data.
GAME_GAP = 60


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


# -- bulk load -------------------------------------------------------------------


def _createSchema(path: Path) -> None:
    """
    The real schema, through the real migrations.
    """
    from juego.store.migrate import upgrade
    from juego.store.pool import makeEngine

    engine = makeEngine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _load(conn: sqlite3.Connection, players: int, lastDay: int) -> None:
    # One row per player with everything derived from a multiplicative hash of the id:
    # 90% have played, bests spread over 0..9999, last game within the last 30 days.
    conn.execute(
        """
        CREATE TEMP TABLE gen AS
        WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
        SELECT n,
               n % 10 != 0 AS played,
               ((n * 2654435761) % 4294967296) % 10000 AS best,
               1 + ((n * 2654435761) % 4294967296) / 16 % 3 AS games,
               (? - ((n * 2654435761) % 4294967296) / 65536 % 30) * 86400
                 + ((n * 2654435761) % 4294967296) % 80000 AS t0
        FROM seq
        """,
        (players, lastDay),
    )
    stamp = "strftime('%Y-%m-%d %H:%M:%S', {}, 'unixepoch') || '.000000'"
    conn.execute(
        f"""
        INSERT INTO users (id, nombre, email, password_hash, es_admin, bio, fecha_registro)
        SELECT n, 'jugador ' || n, 'jugador' || n || '@bench.example', 'x', 0, '',
               {stamp.format("t0 - 86400 * 60")}
        FROM gen ORDER BY n
        """
    )
    last = f"t0 + (games - 1) * {GAME_GAP}"
    conn.execute(
        f"""
        INSERT INTO user_aggregates (user_id, puntaje_maximo, fecha_maximo, partidas_jugadas,
                                     puntaje_total, fecha_ultimo_juego, dia_ultimo_juego)
        SELECT n,
               CASE WHEN played THEN best ELSE 0 END,
               CASE WHEN played THEN {stamp.format("t0")} END,
               CASE WHEN played THEN games ELSE 0 END,
               CASE WHEN played THEN best + (games - 1) * (best / 2) ELSE 0 END,
               CASE WHEN played THEN {stamp.format(last)} END,
               CASE WHEN played THEN ({last}) / 86400 END
        FROM gen ORDER BY n
        """
    )
    conn.execute(
        f"""
        INSERT INTO scores (user_id, puntaje, fecha, clave, nuevo_record, puntaje_maximo)
        SELECT n,
               CASE WHEN k = 1 THEN best ELSE best / 2 END,
               {stamp.format(f"t0 + (k - 1) * {GAME_GAP}")},
               NULL,
               k = 1,
               best
        FROM gen JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) ON k <= games
        WHERE played
        ORDER BY n, k
        """
    )
    conn.execute(
        """
        INSERT INTO best_counts (puntaje, jugadores)
        SELECT puntaje_maximo, count(*) FROM user_aggregates
        WHERE partidas_jugadas > 0 GROUP BY puntaje_maximo
        """
    )
    conn.execute(
        """
        INSERT INTO activity_days (dia, jugadores)
        SELECT dia_ultimo_juego, count(*) FROM user_aggregates
        WHERE dia_ultimo_juego IS NOT NULL GROUP BY dia_ultimo_juego
        """
    )
    conn.execute(
        """
        UPDATE totals SET
            usuarios = (SELECT count(*) FROM users),
            jugadores = (SELECT count(*) FROM user_aggregates WHERE partidas_jugadas > 0),
            suma_mejores = (SELECT coalesce(sum(puntaje_maximo), 0) FROM user_aggregates
                            WHERE partidas_jugadas > 0),
            partidas = (SELECT count(*) FROM scores)
        WHERE id = 1
        """
    )
    conn.execute("DROP TABLE gen")


def build(players: int, out: Path = OUT) -> tuple[Path, float, bool]:
    """
    The database with C{players} players, built unless a current one is there: its
    path, how long building it took, and whether it was reused.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"stats-{players}.db"
    marker = path.with_name(path.name + ".ok")
    if path.exists() and marker.exists():
        version, _, recorded = marker.read_text().rpartition(":")
        if version == f"{DATA_VERSION}:{players}":
            return path, float(recorded), True
    started = time.perf_counter()
    for suffix in ("", ".ok", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    _createSchema(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        conn.execute("PRAGMA temp_store=MEMORY")
        # Secondary indexes are built once at the end (a sort), not row by row.
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('user_aggregates', 'scores')"
        ).fetchall()
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        # Every game is in the past: the newest on yesterday (UTC).
        _load(conn, players, int(time.time()) // 86400 - 1)
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    took = time.perf_counter() - started
    marker.write_text(f"{DATA_VERSION}:{players}:{took:.2f}")
    return path, took, False


# -- the service -------------------------------------------------------------------


@contextmanager
def service(database: Path) -> Iterator[int]:
    """
    A real C{twistd -n juego-dist} on C{database}, from this checkout; yields its port.
    """
    port = freePort()
    process = ServiceProcess(
        "juego-dist",
        ["--listen", f"tcp:{port}:interface=127.0.0.1", "--database", f"sqlite:///{database}"],
        str(database.parent),
        port,
        without=("JUEGO_SERVICE_SECRET", "JUEGO_DATABASE_URL"),
    ).start()
    try:
        yield port
    finally:
        process.stop()


# -- measuring ---------------------------------------------------------------------


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Target:
    def __init__(self, players: int, port: int, database: Path) -> None:
        from juego.clients import DistributedServiceClient
        from juego.secret import serviceSecret

        self.players = players
        # The secret the service generated beside its database (it runs without one set).
        secret = serviceSecret(f"sqlite:///{database}", environ={}, create=False)
        self.client = DistributedServiceClient(
            host="127.0.0.1", port=port, secret=secret, timeout=30
        )
        self.user: list[float] = []
        self.globals: list[float] = []
        self.random = random.Random(players)

    def check(self) -> None:
        ok, reply = self.client.get_global_stats()
        if not ok or reply["stats"]["total_usuarios"] != self.players:
            raise RuntimeError(f"unexpected global stats: {reply}")
        ok, reply = self.client.get_user_stats(user_id=1)
        if not ok or reply["stats"]["posicion_ranking"] is None:
            raise RuntimeError(f"unexpected user stats: {reply}")

    def measure(self, count: int, keep: bool = True) -> None:
        for _ in range(count):
            userID = self.random.randint(1, self.players)
            started = time.perf_counter()
            ok, reply = self.client.get_user_stats(user_id=userID)
            elapsed = time.perf_counter() - started
            if not ok:
                raise RuntimeError(f"get_user_stats failed: {reply}")
            if keep:
                self.user.append(elapsed)
            started = time.perf_counter()
            ok, reply = self.client.get_global_stats()
            elapsed = time.perf_counter() - started
            if not ok:
                raise RuntimeError(f"get_global_stats failed: {reply}")
            if keep:
                self.globals.append(elapsed)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def _rankingLatencies(path: Path, count: int) -> list[float]:
    """
    The top-10 ranking query (what C{GET /api/ranking} runs), timed in this process.
    """
    from juego.store.pool import makeEngine
    from juego.store.stats import _ranking

    engine = makeEngine(f"sqlite:///{path}")
    samples = []
    try:
        with engine.connect() as conn:
            for i in range(WARMUP + count):
                started = time.perf_counter()
                _ranking(conn, 10, 0)
                if i >= WARMUP:
                    samples.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return samples


def _rankingRow(
    paths: dict[int, Path], small: int, large: int, count: int, ratioName: str
) -> dict[str, Any]:
    low = _percentile(_rankingLatencies(paths[small], count), 0.5)
    high = _percentile(_rankingLatencies(paths[large], count), 0.5)
    return {
        "name": f"ranking top 10 p50 {ratioName}",
        "value": round(high / low, 2),
        "target": "≤ 3",
        "detail": f"p50 {_label(small)}={_ms(low)}, {_label(large)}={_ms(high)}; store query, in process",
    }


def run(quick: bool = False, requests: int | None = None) -> list[dict[str, Any]]:
    small, large = QUICK_SIZES if quick else SIZES
    count = requests or (QUICK_REQUESTS if quick else REQUESTS)
    ratioName = f"{_label(large)}/{_label(small)}"
    rows: list[dict[str, Any]] = []
    paths = {}
    for players in (small, large):
        paths[players], took, reused = build(players)
        rows.append(
            {
                "name": f"bulk load {_label(players)} players (s)",
                "value": round(took, 2),
                "target": "< 60",
                "detail": f"{paths[players].relative_to(CHECKOUT)}"
                + (" (reused: built earlier in that time)" if reused else ""),
            }
        )
    with service(paths[small]) as smallPort, service(paths[large]) as largePort:
        targets = [
            _Target(small, smallPort, paths[small]),
            _Target(large, largePort, paths[large]),
        ]
        for target in targets:
            target.check()
            target.measure(WARMUP, keep=False)
        # Interleaved rounds, so that drift on the machine hits both sizes alike.
        for _ in range(ROUNDS):
            for target in targets:
                target.measure(max(1, count // ROUNDS))
        for target in targets:
            target.client.close()
    smallTarget, largeTarget = targets
    rows.append(_rankingRow(paths, small, large, count, ratioName))
    for action, attr in (("get_user_stats", "user"), ("get_global_stats", "globals")):
        for q, label, goal in ((0.5, "p50", "≤ 3"), (0.99, "p99", "(informative)")):
            low = _percentile(getattr(smallTarget, attr), q)
            high = _percentile(getattr(largeTarget, attr), q)
            rows.append(
                {
                    "name": f"{action} {label} {ratioName}",
                    "value": round(high / low, 2),
                    "target": goal,
                    "detail": (
                        f"{label} {_label(small)}={_ms(low)}, {_label(large)}={_ms(high)}; "
                        f"mean {_label(small)}={_ms(statistics.fmean(getattr(smallTarget, attr)))}, "
                        f"{_label(large)}={_ms(statistics.fmean(getattr(largeTarget, attr)))}; "
                        f"{len(getattr(smallTarget, attr))} requests each, blocking client, "
                        "one connection, loopback"
                    ),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1k vs 100k players")
    parser.add_argument("--requests", type=int, default=None, help="requests per action and size")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, requests=args.requests)
    width = max(len(row["name"]) for row in rows)
    failed = False
    for row in rows:
        print(f"{row['name']:<{width}}  {row['value']!s:>8}  {row['target']:<14}  {row['detail']}")
        if row["target"] == "≤ 3" and row["value"] > 3:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
