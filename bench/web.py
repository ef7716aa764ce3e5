"""
The web rows: real C{twistd} processes (juego-tcp, juego-dist, juego-web) on one SQLite
database, load from a separate process (L{bench.httpload}), each figure beside a
reference measured in the same run.

  - C{GET /api/stats/global} throughput on juego-web (public, answered through juego-dist)
    beside a bare Klein app answering the same JSON from one route (L{bench.bare_klein}),
    in alternating rounds (best of 2 in full mode, 1 in quick), so that a burst of
    someone else's work on the machine hits both alike or is outvoted;
  - with C{--profile} or C{--locks}: verified end-to-end C{POST /api/guardar_puntaje} at
    64 concurrent players (one keep-alive connection each, one save in flight each,
    every save its own partida issued beforehand, a realistic 30-word game), to see where
    its time goes. The save rows of C{make bench}, per deployment and beside the seed's
    design, are L{bench.saves}'s;

and the latency distributions as a chart (C{bench/out/latency.png}, L{bench.chart}; the
save curve from this run or else from L{bench.saves}'s last).
Each phase first waits (boundedly) for the machine to be idle, and its detail says how
many cores other processes used meanwhile ("others"): a figure taken while others were
busy is not comparable.

    python -m bench.web [--quick] [--profile] [--locks]

C{--profile} adds a run under C{py-spy --gil} for each row (its numbers not reported)
and prints where the Python time goes; the raw stacks go to C{bench/out/profile-*.txt}.
C{--locks} runs the services with L{bench.sqlitelocks} and adds the SQLite write lock's
figures (held share, waits, commits) to the save rows.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
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
#: Partidas issued per player: enough for the saves measured so far (under 700/s) for
#: the whole run, with room, so that the run ends by time, not by running out.
EXPECTED_SAVES = 700


def _seconds(quick: bool) -> float:
    return 3.0 if quick else 10.0


def _statsLoad(port: int, seconds: float, samples: Path | None) -> dict[str, Any]:
    args = [
        "get",
        str(port),
        "--path",
        "/api/stats/global",
        "--connections",
        str(STATS_CONNECTIONS),
        "--seconds",
        str(seconds),
        "--warmup",
        "0.5",
    ]
    if samples is not None:
        args += ["--samples", str(samples)]
    return httpload(*args)


def _saveLoad(port: int, plan: Path, seconds: float, samples: Path | None) -> dict[str, Any]:
    args = ["post", str(port), "--plan", str(plan), "--seconds", str(seconds)]
    if samples is not None:
        args += ["--samples", str(samples)]
    return httpload(*args)


def _plan(path: Path, players: list[dict[str, Any]], start: int, count: int) -> Path:
    path.write_text(
        json.dumps(
            {
                "path": "/api/guardar_puntaje",
                "players": [
                    {"cookie": p["cookie"], "bodies": p["bodies"][start : start + count]}
                    for p in players
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


def _measured(
    pids: dict[str, int], load: Any, quietWait: float
) -> tuple[dict[str, Any], CPUMeter, str]:
    """
    Wait for quiet, run C{load()} while metering C{pids}: its result, the meter, and a
    note of the cores used by our processes, the load generator and everyone else.
    """
    waitForQuiet(maxWait=quietWait)
    meter = CPUMeter(pids).start()
    result = load()
    usage = meter.stop()
    ours = sum(v for k, v in usage.items() if k != "machine") + result.get("cpu_cores", 0.0)
    result["others"] = round(max(0.0, usage["machine"] - ours), 2)
    note = (
        ", ".join(f"{k} {v:.2f}" for k, v in usage.items() if k != "machine")
        + f", load generator {result.get('cpu_cores', 0.0):.2f}, others {result['others']:.2f}"
    )
    return result, meter, note


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


def _lockText(locks: dict[str, dict[str, Any]], seconds: float) -> str:
    """
    The SQLite write lock during the save run, from L{bench.sqlitelocks}.
    """
    parts, held = [], 0.0
    for name, figures in locks.items():
        if "held" not in figures:
            continue
        held += figures["held"]["total_s"]
        parts.append(
            f"{name}: {figures['held']['n']} write txns, held mean {figures['held']['mean_ms']} ms, "
            f"wait p50 {figures['wait']['p50_ms']} / p99 {figures['wait']['p99_ms']} ms, "
            f"commit mean {figures['commit']['mean_ms']} ms"
        )
    return f"write lock held {held / seconds:.0%} of the run; " + "; ".join(parts)


def run(quick: bool = False, profile: bool = False, locks: bool = False) -> list[dict[str, Any]]:
    raiseFileLimit()
    OUT.mkdir(parents=True, exist_ok=True)
    seconds = _seconds(quick)
    rounds = 1 if quick else 2
    quietWait = 5.0 if quick else 20.0
    saving = profile or locks
    runs = (2 if profile else 1) if saving else 0
    perPlayer = math.ceil(EXPECTED_SAVES * seconds * 1.3 / PLAYERS)
    work = workDirectory()
    profiles: list[str] = []
    lockNote = ""
    try:
        url, players = prepareDatabase(work / "juego.db", PLAYERS, perPlayer * runs)
        with stack(work, url, locks) as services:
            status, body = services.get("/api/stats/global")
            if status != 200:
                raise RuntimeError(f"GET /api/stats/global answered {status}: {body[:200]!r}")

            saves: dict[str, Any] = {}
            saveNote = ""
            if saving:
                plan = _plan(work / "plan.json", players, 0, perPlayer)
                saves, _, saveNote = _measured(
                    services.pids(),
                    lambda: _saveLoad(
                        services.webPort, plan, seconds, OUT / "latency-guardar_puntaje.json"
                    ),
                    quietWait,
                )
                settle(1.5)  # record notifications and outbox rows finish
            if locks:
                lockNote = _lockText(services.locks(), saves["seconds"])
            liveStats = json.loads(services.get("/api/stats/global")[1])["stats"]

            with bareKlein(work, liveStats) as (barePort, barePID):
                best: dict[str, tuple[dict[str, Any], str]] = {}
                for r in range(rounds):
                    for side, port, pids in (
                        ("web", services.webPort, services.pids()),
                        ("bare", barePort, {"bare": barePID}),
                    ):
                        samples = work / f"latency-{side}-{r}.json"
                        result, _, note = _measured(
                            pids,
                            lambda port=port, samples=samples: _statsLoad(port, seconds, samples),
                            quietWait,
                        )
                        result["samples"] = samples
                        if side not in best or result["rate"] > best[side][0]["rate"]:
                            best[side] = (result, note)
                if profile:
                    plan2 = _plan(work / "plan2.json", players, perPlayer, perPlayer)
                    profiles.append(
                        _profile(
                            services.webPID,
                            seconds,
                            "guardar_puntaje",
                            lambda: _saveLoad(services.webPort, plan2, seconds, None),
                        )
                    )
                    profiles.append(
                        _profile(
                            services.webPID,
                            seconds,
                            "stats-global",
                            lambda: _statsLoad(services.webPort, seconds, None),
                        )
                    )
                    profiles.append(
                        _profile(
                            barePID,
                            seconds,
                            "stats-bare",
                            lambda: _statsLoad(barePort, seconds, None),
                        )
                    )
            (stats, statsNote), (bare, bareNote) = best["web"], best["bare"]
            shutil.copyfile(stats["samples"], OUT / "latency-stats-web.json")
            shutil.copyfile(bare["samples"], OUT / "latency-stats-bare.json")
            settle(1.0)
        stored = counts(url)
    finally:
        removeWorkDirectory(work)

    curves = {
        f"GET /api/stats/global, juego-web ({STATS_CONNECTIONS} conn)": readJSON(
            OUT / "latency-stats-web.json"
        ),
        f"GET /api/stats/global, bare Klein ({STATS_CONNECTIONS} conn)": readJSON(
            OUT / "latency-stats-bare.json"
        ),
    }
    for name, path in (
        (f"POST /api/guardar_puntaje ({PLAYERS} players)", "latency-guardar_puntaje.json"),
        (f"seed design, unverified save ({PLAYERS} players)", "latency-seed.json"),
    ):
        if (OUT / path).exists():
            curves[name] = readJSON(OUT / path)
    pngNote = chart.latencyChart(curves, OUT / "latency.png")
    for text in profiles:
        print(text, file=sys.stderr)

    allOK = (
        stats["statuses"].get("200", 0) == stats["requests"]
        and bare["statuses"].get("200", 0) == bare["requests"]
    )
    rows = [
        {
            "name": f"GET /api/stats/global req/s ({STATS_CONNECTIONS} conn, keep-alive)",
            "value": stats["rate"],
            "reference": bare["rate"],
            "ratio": round(stats["rate"] / bare["rate"], 3) if bare["rate"] else 0.0,
            "target": "ratio >= 0.6",
            "detail": (
                f"juego-web p50 {stats['p50_ms']} / p99 {stats['p99_ms']} ms; bare Klein p50 {bare['p50_ms']} / "
                f"p99 {bare['p99_ms']} ms; best of {rounds}, alternating; body {stats['body_bytes']} vs {bare['body_bytes']} B; "
                + (
                    "all 200; "
                    if allOK
                    else f"statuses {json.dumps(stats['statuses'])} / {json.dumps(bare['statuses'])}; "
                )
                + f"CPU cores: {statsNote} | {bareNote}; chart: {pngNote}"
            ),
        },
    ]
    if not saving:
        return rows
    ok = saves["statuses"].get("200", 0)
    return rows + [
        {
            "name": f"POST /api/guardar_puntaje saves/s ({PLAYERS} players, verified, durable)",
            "value": round(ok / saves["seconds"], 1),
            "reference": "",
            "ratio": "",
            "target": ">= 1500/s",
            "detail": (
                f"{ok} saved in {saves['seconds']} s; statuses {json.dumps(saves['statuses'])}; "
                f"stored after all runs: {stored['scores']} scores, {stored['guardadas']} partidas guardadas, "
                f"{stored['outbox']} outbox rows left; CPU cores: {saveNote}"
                + (f"; first errors {saves['errors'][:2]}" if saves["errors"] else "")
            ),
        },
        {
            "name": "POST /api/guardar_puntaje p50 / p99 latency (ms)",
            "value": f"{saves['p50_ms']} / {saves['p99_ms']}",
            "reference": "",
            "ratio": "",
            "target": "p99 <= 100 ms",
            "detail": f"p90 {saves['p90_ms']} ms, max {saves['max_ms']} ms"
            + (f"; {lockNote}" if lockNote else ""),
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.web", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also profile each row with py-spy")
    parser.add_argument(
        "--locks",
        action="store_true",
        help="instrument the services' SQLite write lock (bench.sqlitelocks)",
    )
    args = parser.parse_args(argv)
    for row in run(quick=args.quick, profile=args.profile, locks=args.locks):
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
