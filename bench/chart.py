"""
Latency distributions of the HTTP rows as a PNG: one curve per series, the share of
requests answered within a given time (a CDF, log time axis), p50 and p99 marked.

Needs matplotlib (the C{bench} extra); without it the chart is skipped with a message.
Regenerate from the samples the last run left in C{bench/out/}:

    python -m bench.chart
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"

#: The samples files bench.web writes, and their labels.
SERIES = {
    "GET /api/stats/global, juego-web": "latency-stats-web.json",
    "GET /api/stats/global, bare Klein": "latency-stats-bare.json",
    "POST /api/guardar_puntaje, 64 players": "latency-guardar_puntaje.json",
}


def _percentile(ordered: Sequence[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def latencyChart(series: Mapping[str, Sequence[float]], path: Path) -> str:
    """
    Draw C{series} (label -> latencies in ms) to C{path}; what was done, for the report.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        message = (
            "no chart: matplotlib is not installed (pip install matplotlib, or the bench extra)"
        )
        print(message, file=sys.stderr)
        return message
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for label, samples in series.items():
        if not samples:
            continue
        ordered = sorted(samples)
        n = len(ordered)
        # Thin the curve to at most ~2,000 points, always keeping the tail.
        step = max(1, n // 2000)
        xs = ordered[::step] + [ordered[-1]]
        ys = [100 * (i + 1) / n for i in range(0, n, step)] + [100.0]
        p50, p99 = _percentile(ordered, 50), _percentile(ordered, 99)
        (line,) = ax.plot(xs, ys, label=f"{label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms (n={n})")
        ax.plot([p50, p99], [50, 99], "o", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("requests answered within (%)")
    ax.set_ylim(0, 100.5)
    ax.grid(True, which="both", alpha=0.3)
    ax.axhline(99, color="grey", lw=0.6, ls=":")
    ax.axhline(50, color="grey", lw=0.6, ls=":")
    ax.set_title("juego-web latency under load (SQLite, 2 cores, loopback)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def main() -> int:
    series = {}
    for label, name in SERIES.items():
        file = OUT / name
        if file.exists():
            series[label] = json.loads(file.read_text(encoding="utf-8"))
    if not series:
        print(f"no samples in {OUT}: run python -m bench.web first", file=sys.stderr)
        return 1
    print(latencyChart(series, OUT / "latency.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
