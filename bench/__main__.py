"""
C{make bench}: every benchmark, one table, each figure beside its reference and target.

    python -m bench [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time

#: Benchmark modules, each with C{run(quick: bool) -> list[dict]}.
SUITES = ["bench.tcp", "bench.stats", "bench.saves", "bench.web", "bench.ws", "bench.races"]


def describeMachine() -> str:
    return f"{platform.node()} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()} · {platform.platform()}"


def table(rows: list[dict]) -> str:
    header = ("benchmark", "value", "reference", "ratio", "target", "detail")
    lines = [header] + [
        (
            r["name"],
            str(r.get("value", "")),
            str(r.get("reference", "")),
            str(r.get("ratio", "")),
            r.get("target", ""),
            r.get("detail", ""),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for n, line in enumerate(lines):
        out.append(
            " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])) + " | " + line[-1]
        )
        if n == 0:
            out.append("-+-".join("-" * w for w in widths) + "-+-" + "-" * 6)
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller data and shorter runs")
    parser.add_argument(
        "--only", nargs="*", default=None, help="suites to run (tcp, stats, saves, web, ws)"
    )
    args = parser.parse_args()
    rows: list[dict] = []
    started = time.time()
    for name in SUITES:
        if args.only and name.rsplit(".", 1)[-1] not in args.only:
            continue
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            print(f"skipping {name}: {e}", file=sys.stderr)
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(module.run(quick=args.quick))
    print(f"machine: {describeMachine()}")
    print(
        f"command: python -m bench{' --quick' if args.quick else ''}  ({time.time() - started:.0f} s)"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
