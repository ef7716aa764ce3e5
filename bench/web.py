"""
The web rows: real C{twistd} processes (juego-tcp, juego-dist, juego-web) on one SQLite
database, load from a separate process (L{bench.httpload}), each figure beside a
reference measured in the same run.

  - C{GET /api/stats/global} throughput on juego-web (session-less, through juego-dist)
    beside a bare Klein app answering the same JSON from one route (L{bench.bare_klein});
  - verified end-to-end C{POST /api/guardar_puntaje} at 64 concurrent players (one
    keep-alive connection each, one save in flight each, every save its own partida
    issued beforehand, a legal one-word game): saves/s, p50/p99;

and the latency distributions of both as a chart (C{bench/out/latency.png}, L{bench.chart}).

    python -m bench.web [--quick] [--profile]

C{--profile} adds a run under C{py-spy} for each row (its numbers not reported) and
prints the top frames; the raw stacks go to C{bench/out/profile-*.txt}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from bench import chart
from bench.webstack import (
    OUT,
    PROFILE_RATE,
    CPUMeter,
    Profiler,
    bareKlein,
    counts,
    formatProfile,
    httpload,
    prepareDatabase,
    raiseFileLimit,
    readJSON,
    removeWorkDirectory,
    settle,
    stack,
    summariseProfile,
    waitForQuiet,
    workDirectory,
)

PLAYERS = 64
STATS_CONNECTIONS = 32
#: Partidas issued per player: enough for the save target (1,500/s) for the whole run,
#: with room, so that the run ends by time, not by running out.
TARGET_SAVES = 1500


def _seconds(quick: bool) -> float:
    return 3.0 if quick else 10.0


def _statsLoad(port: int, seconds: float, samples: Path | None) -> dict[str, Any]:
    args = ["get", str(port), "--path", "/api/stats/global", "--connections", str(STATS_CONNECTIONS),
            "--seconds", str(seconds), "--warmup", "0.5"]
    if samples is not None:
        args += ["--samples", str(samples)]
    return httpload(*args)


def _saveLoad(port: int, plan: Path, seconds: float, samples: Path | None) -> dict[str, Any]:
    args = ["post", str(port), "--plan", str(plan), "--seconds", str(seconds)]
    if samples is not None:
        args += ["--samples", str(samples)]
    return httpload(*args)


def _plan(path: Path, players: list[dict[str, Any]], start: int, count: int) -> Path:
    path.write_text(json.dumps({
        "path": "/api/guardar_puntaje",
        "players": [{"cookie": p["cookie"], "bodies": p["bodies"][start:start + count]} for p in players],
    }), encoding="utf-8")
    return path


def _profile(pid: int, seconds: float, name: str, load: Any) -> str:
    """
    Run C{load()} with py-spy on C{pid} for its middle; the summary's text.
    """
    raw = OUT / f"profile-{name}.txt"
    duration = max(1, int(seconds - 1))
    spy = Profiler(pid, duration, raw)
    load()
    got = spy.wait()
    if got is None:
        return f"== {name}: no profile =="
    text = formatProfile(name, summariseProfile(got, duration, PROFILE_RATE))
    (OUT / f"profile-{name}-top.txt").write_text(text + "\n", encoding="utf-8")
    return text


def run(quick: bool = False, profile: bool = False) -> list[dict[str, Any]]:
    raiseFileLimit()
    OUT.mkdir(parents=True, exist_ok=True)
    seconds = _seconds(quick)
    runs = 2 if profile else 1
    perPlayer = math.ceil(TARGET_SAVES * seconds * 1.3 / PLAYERS)
    work = workDirectory()
    profiles: list[str] = []
    quiet: dict[str, float] = {}
    quietWait = 5.0 if quick else 20.0
    try:
        url, players = prepareDatabase(work / "juego.db", PLAYERS, perPlayer * runs)
        with stack(work, url) as services:
            status, body = services.get("/api/stats/global")
            if status != 200:
                raise RuntimeError(f"GET /api/stats/global answered {status}: {body[:200]!r}")

            plan = _plan(work / "plan.json", players, 0, perPlayer)
            quiet["saves"] = waitForQuiet(maxWait=quietWait)
            saveCPU = CPUMeter(services.pids()).start()
            saves = _saveLoad(services.webPort, plan, seconds, OUT / "latency-guardar_puntaje.json")
            saveCPU.stop()
            settle(1.5)  # record notifications and outbox rows finish
            quiet["stats"] = waitForQuiet(maxWait=quietWait)
            statsCPU = CPUMeter(services.pids()).start()
            stats = _statsLoad(services.webPort, seconds, OUT / "latency-stats-web.json")
            statsCPU.stop()
            liveStats = json.loads(services.get("/api/stats/global")[1])["stats"]

            if profile:
                plan2 = _plan(work / "plan2.json", players, perPlayer, perPlayer)
                profiles.append(_profile(services.webPID, seconds, "guardar_puntaje",
                                         lambda: _saveLoad(services.webPort, plan2, seconds, None)))
                profiles.append(_profile(services.webPID, seconds, "stats-global",
                                         lambda: _statsLoad(services.webPort, seconds, None)))
            settle(1.0)
        stored = counts(url)
        with bareKlein(work, liveStats) as (barePort, barePID):
            quiet["bare"] = waitForQuiet(maxWait=quietWait)
            bareCPU = CPUMeter({"bare": barePID}).start()
            bare = _statsLoad(barePort, seconds, OUT / "latency-stats-bare.json")
            bareCPU.stop()
            if profile:
                profiles.append(_profile(barePID, seconds, "stats-bare",
                                         lambda: _statsLoad(barePort, seconds, None)))
    finally:
        removeWorkDirectory(work)

    pngNote = chart.latencyChart({
        f"GET /api/stats/global, juego-web ({STATS_CONNECTIONS} conn)": readJSON(OUT / "latency-stats-web.json"),
        f"GET /api/stats/global, bare Klein ({STATS_CONNECTIONS} conn)": readJSON(OUT / "latency-stats-bare.json"),
        f"POST /api/guardar_puntaje ({PLAYERS} players)": readJSON(OUT / "latency-guardar_puntaje.json"),
    }, OUT / "latency.png")
    for text in profiles:
        print(text, file=sys.stderr)

    ok = saves["statuses"].get("200", 0)
    statsOK = stats["statuses"].get("200", 0) == stats["requests"]
    bareOK = bare["statuses"].get("200", 0) == bare["requests"]
    return [
        {
            "name": f"GET /api/stats/global req/s ({STATS_CONNECTIONS} conn, keep-alive)",
            "value": stats["rate"],
            "reference": bare["rate"],
            "ratio": round(stats["rate"] / bare["rate"], 3) if bare["rate"] else 0.0,
            "target": "ratio >= 0.6",
            "detail": (
                f"juego-web p50 {stats['p50_ms']} / p99 {stats['p99_ms']} ms; bare Klein p50 {bare['p50_ms']} / "
                f"p99 {bare['p99_ms']} ms; body {stats['body_bytes']} vs {bare['body_bytes']} B; "
                f"{'all 200' if statsOK and bareOK else 'statuses ' + json.dumps(stats['statuses']) + ' / ' + json.dumps(bare['statuses'])}; "
                f"CPU cores: {statsCPU.text()}, load {stats['cpu_cores']} | {bareCPU.text()}, load {bare['cpu_cores']}; "
                f"machine busy before: {quiet['stats']} / {quiet['bare']} cores"
            ),
        },
        {
            "name": f"POST /api/guardar_puntaje saves/s ({PLAYERS} players, verified, durable)",
            "value": round(ok / saves["seconds"], 1),
            "reference": "",
            "ratio": "",
            "target": ">= 1500/s",
            "detail": (
                f"{ok} saved in {saves['seconds']} s; statuses {json.dumps(saves['statuses'])}; "
                f"stored: {stored['scores']} scores, {stored['guardadas']} partidas guardadas, "
                f"{stored['outbox']} outbox rows left; CPU cores: {saveCPU.text()}, load {saves['cpu_cores']}; "
                f"machine busy before: {quiet['saves']} cores"
                + (f"; first errors {saves['errors'][:2]}" if saves["errors"] else "")
            ),
        },
        {
            "name": "POST /api/guardar_puntaje p50 / p99 latency (ms)",
            "value": f"{saves['p50_ms']} / {saves['p99_ms']}",
            "reference": "",
            "ratio": "",
            "target": "p99 <= 100 ms",
            "detail": f"p90 {saves['p90_ms']} ms, max {saves['max_ms']} ms; chart: {pngNote}",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also profile each row with py-spy")
    args = parser.parse_args(argv)
    for row in run(quick=args.quick, profile=args.profile):
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
