"""
What a line service records about each request it answers: one info log line (service,
action, outcome, duration, the caller's request id C{rid}) and its metrics. Kept cheap:
it runs once per request on the reactor thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

if TYPE_CHECKING:
    from juego.metrics import Metrics


class RequestLog:
    """
    @param service: the C{service} label and log field (C{tcp}, C{dist}).
    @param metrics: where to count, or L{None} to log only.
    """

    log = Logger()

    def __init__(self, service: str, metrics: Metrics | None = None) -> None:
        self.service = service
        self._metrics = metrics
        # Labelled children, looked up once each (labels() takes a lock).
        self._requests: dict[str, Any] = {}
        self._errors: dict[str, Any] = {}
        self._connections = None if metrics is None else metrics.connections.labels(service, "line")

    def connected(self) -> None:
        if self._connections is not None:
            self._connections.inc()

    def disconnected(self) -> None:
        if self._connections is not None:
            self._connections.dec()

    def answered(
        self, action: str, rid: str | None, reply: Mapping[str, Any], started: float
    ) -> None:
        """
        A request for C{action} (C{-} when it could not be read) was answered with
        C{reply}; it arrived at C{started} (L{perf_counter}).
        """
        code = None if reply.get("success", True) else reply.get("code", "internal")
        # One line per traced request (the web always sends a rid) and per error; a
        # script's untraced successes are only counted, so that bulk traffic costs no
        # log formatting on the hot path.
        if rid is not None or code is not None:
            self._logAnswer(action, rid, code, started)
        if self._metrics is None:
            return
        counter = self._requests.get(action)
        if counter is None:
            counter = self._requests[action] = self._metrics.lineRequests.labels(
                self.service, action
            )
        counter.inc()
        if code is not None:
            errors = self._errors.get(code)
            if errors is None:
                errors = self._errors[code] = self._metrics.lineErrors.labels(self.service, code)
            errors.inc()

    def _logAnswer(self, action: str, rid: str | None, code: str | None, started: float) -> None:
        self.log.info(
            "{service} {action} {outcome} {duration_ms:.1f} ms rid={rid}",
            service=self.service,
            action=action,
            outcome=code or "ok",
            duration_ms=(perf_counter() - started) * 1000,
            rid=rid,
        )
