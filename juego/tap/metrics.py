"""
C{--metrics ENDPOINT} for juego-tcp and juego-dist: Prometheus metrics at C{/metrics} on
a listener of their own (juego-web serves them on its site instead).
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService, IServiceCollection

from juego.metrics import Metrics
from juego.tap import listeningService, reactor

METRICS_OPTION = [
    "metrics",
    None,
    None,
    "Server endpoint string for Prometheus metrics at /metrics (default: none). "
    "Unauthenticated: keep it on loopback or a private network.",
]


def serveMetrics(
    parent: IService, description: str | None, metrics: Metrics, theReactor: Any = None
) -> None:
    """
    Serve C{metrics} on C{description}, if given, as a child of C{parent} (a
    L{juego.tap.SequentialMultiService}: stopped first).
    """
    if description:
        theReactor = reactor() if theReactor is None else theReactor
        listener = listeningService(theReactor, description, metrics.site())
        listener.setServiceParent(IServiceCollection(parent))
