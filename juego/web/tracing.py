"""
The web edge of distributed logging: every HTTP request gets a request id, returned in
C{X-Request-Id} and carried (as C{rid}) by every line request made on its behalf, and
leaves one log line (method, path, status, duration, rid) and its metrics when it ends.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any
from weakref import WeakSet

from twisted.logger import Logger
from twisted.web import server
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from juego.logging import REQUEST_ID_HEADER, callWithRequestID, newRequestID, validRequestID
from juego.metrics import Metrics
from juego.web.drain import DrainingChannel
from juego.web.proxies import TrustedProxies

#: Methods counted under their own name; any other is counted as C{other}.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Longest path logged, in characters.
MAX_LOGGED_PATH = 256


class RequestTracing(Resource):
    """
    Wraps the site's root (a leaf): gives the request its id, then lets the wrapped
    resource answer with that id as the current one (L{juego.logging}).
    """

    isLeaf = True
    log = Logger()

    def __init__(
        self,
        wrapped: IResource,
        metrics: Metrics | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._metrics = metrics
        self._proxies = proxies

    def render(self, request: IRequest) -> Any:
        if self._proxies is not None:
            self._proxies.apply(request)
        rid = validRequestID(request.getHeader(REQUEST_ID_HEADER)) or newRequestID()
        request.setHeader(REQUEST_ID_HEADER, rid.encode("ascii"))
        finished = request.notifyFinish()  # type: ignore[attr-defined]
        finished.addBoth(self._finished, request, rid, perf_counter())
        return callWithRequestID(rid, self._wrapped.render, request)

    def _finished(self, result: object, request: Any, rid: str, started: float) -> None:
        seconds = perf_counter() - started
        method = request.method.decode("ascii", "replace")
        # The client went away before the answer was written: logged as such (499,
        # as nginx does), not as the status that was never sent.
        status = request.code if result is None else 499
        self.log.info(
            "{method} {path} {status} {duration_ms:.1f} ms rid={rid} client={client}",
            method=method,
            path=request.path.decode("utf-8", "replace")[:MAX_LOGGED_PATH],
            status=status,
            duration_ms=seconds * 1000,
            rid=rid,
            client=getattr(request.getClientAddress(), "host", None),
        )
        if self._metrics is not None:
            label = method if method in METHODS else "other"
            self._metrics.httpRequests.labels(label, str(status)).inc()
            self._metrics.httpLatency.observe(seconds)


class Site(server.Site):
    """
        juego-web's site: L{RequestTracing} logs each request, so the site writes no access
        log line of its own (it would be a second line per request). Its connections can be
    drained for a graceful stop (L{juego.web.drain}). juego-web takes JSON,
        never HTML forms, so POST bodies are not parsed as forms (Twisted would otherwise
        parse every POST's C{Content-Type} with the C{email} package: 12 % of the verified
        save path's Python time, measured).
    """

    #: Connections that a graceful stop can drain (L{juego.web.drain}).
    protocol = DrainingChannel  # type: ignore[assignment]

    def __init__(self, resource: IResource, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(resource, *args, **kwargs)
        #: The open connections, and whether the site is stopping. Weak: a connection
        #: that became a WebSocket is not told when it closes (Twisted hands its
        #: connectionLost to the socket), so only garbage collection removes it.
        self.channels: WeakSet[DrainingChannel] = WeakSet()
        self.draining = False

    def log(self, request: Any) -> None:
        pass
