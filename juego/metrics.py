"""
Prometheus metrics. Each process builds one L{Metrics}, on its own C{CollectorRegistry},
and hands it to the parts that count (no import-time globals: each test builds its own;
C{twistd juego} shares one between its three services, told apart by the C{service}
label). docs/OBSERVABILITY.md lists the metrics.

juego-web serves them at C{/metrics}; juego-tcp and juego-dist on the endpoint given with
C{--metrics} (L{Metrics.site}).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import make_wsgi_app
from prometheus_client.registry import Collector
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site
from twisted.web.wsgi import WSGIResource

#: Seconds: a save's wait in the group-commit queue plus its commit.
SAVE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Saves per committed batch (at most juego.scores.MAX_BATCH).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: Seconds: an HTTP request of juego-web, from its first byte read to its last written.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _WriteTransactions(Collector):
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "juego_db_write_transactions",
            "Write transactions this process began on its database.",
            value=self._pool.writeTransactions,
        )


class Metrics:
    """
    A process's metric families, on C{registry} (a new one by default).

    @param reactor: with C{threadpool}, what the C{/metrics} resource renders on; by
        default the global reactor and its thread pool (as
        L{prometheus_client.twisted.MetricsResource}). Tests pass synchronous ones.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        reactor: Any = None,
        threadpool: Any = None,
    ) -> None:
        self.registry = registry = CollectorRegistry() if registry is None else registry
        self._reactor = reactor
        self._threadpool = threadpool
        self._resource: IResource | None = None
        ProcessCollector(registry=registry)
        registry.register(GC_COLLECTOR)
        self._addLineProtocolFamilies(registry)
        self._addSaveFamilies(registry)
        self._addWebFamilies(registry)

    def _addLineProtocolFamilies(self, registry: CollectorRegistry) -> None:
        """
        juego-tcp, juego-dist: the line protocol (and the WebSockets' connections).
        """
        self.lineRequests = Counter(
            "juego_line_requests",
            "Line-protocol requests answered, by service and action.",
            ["service", "action"],
            registry=registry,
        )
        self.lineErrors = Counter(
            "juego_line_errors",
            "Line-protocol requests answered with an error, by service and error code.",
            ["service", "code"],
            registry=registry,
        )
        self.connections = Gauge(
            "juego_connections",
            "Open connections: line-protocol peers (kind=line), players' notification "
            "WebSockets (kind=websocket).",
            ["service", "kind"],
            registry=registry,
        )

    def _addSaveFamilies(self, registry: CollectorRegistry) -> None:
        """
        juego-tcp: saves.
        """
        self.saveLatency = Histogram(
            "juego_save_latency_seconds",
            "juego-tcp: a save's wait for its group commit plus the commit, in seconds.",
            buckets=SAVE_BUCKETS,
            registry=registry,
        )
        self.batchSize = Histogram(
            "juego_group_commit_batch_size",
            "juego-tcp: saves committed together in one transaction.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )

    def _addWebFamilies(self, registry: CollectorRegistry) -> None:
        """
        juego-web: requests, password hashing, the outbox.
        """
        self.httpRequests = Counter(
            "juego_http_requests",
            "juego-web: HTTP requests answered, by method and status.",
            ["method", "status"],
            registry=registry,
        )
        self.httpLatency = Histogram(
            "juego_http_request_duration_seconds",
            "juego-web: HTTP request duration in seconds.",
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.passwordWork = Counter(
            "juego_password_work",
            "juego-web: argon2 password hashes and checks run, by kind (hash, verify).",
            ["kind"],
            registry=registry,
        )
        self.passwordRefused = Counter(
            "juego_password_refused",
            "juego-web: requests answered 503 at once because the hashing queue was full.",
            registry=registry,
        )
        self.outboxDepth = Gauge(
            "juego_outbox_depth",
            "juego-web: work waiting in the outbox for juego-tcp or juego-dist.",
            registry=registry,
        )

    def watchWrites(self, pool: Any) -> None:
        """
        Export the write transactions of C{pool} (a L{juego.store.pool.DBThreadPool}):
        C{juego_db_write_transactions_total}, the process's (what shows that a verified
        save costs juego-web none).
        """
        self.registry.register(_WriteTransactions(pool))

    def resource(self) -> IResource:
        """
        The resource that serves the registry in Prometheus's text format (what
        L{prometheus_client.twisted.MetricsResource} builds: the exposition runs in a
        thread of the pool, off the reactor).
        """
        if self._resource is None:
            if self._reactor is None:
                from prometheus_client.twisted import MetricsResource

                self._resource = MetricsResource(self.registry)
            else:
                self._resource = WSGIResource(
                    self._reactor, self._threadpool, make_wsgi_app(self.registry)
                )
        return self._resource

    def site(self) -> Site:
        """
        A site for a metrics listener of its own: C{/metrics}, nothing else.
        """
        root = Resource()
        root.putChild(b"metrics", self.resource())
        site = Site(root)
        site.displayTracebacks = False
        return site
