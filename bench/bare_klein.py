"""
The web reference: a bare Klein app on Twisted Web, no work behind its routes.

    python -m bench.bare_klein PORT [--stats FILE]

  - C{GET /api/stats/global} answers C{{"success": true, "stats": <FILE's JSON>}} encoded
    per request, as juego-web's C{stats/global} does, with the same content type;
  - C{GET /ws} upgrades to a Twisted WebSocket that only listens.

Same reactor (epoll) and the same C{Site} as C{twistd juego-web}; no session, no juego-dist
round trip, no security headers, one router.
"""

from __future__ import annotations

import argparse
import json
import resource
from typing import Any

from klein import Klein
from twisted.internet import endpoints, reactor
from twisted.web.iweb import IRequest
from twisted.web.server import Site
from twisted.web.websocket import WebSocketResource, WebSocketTransport

STATS = {
    "total_usuarios": 0,
    "usuarios_activos": 0,
    "puntaje_promedio": 0,
    "puntaje_maximo_global": 0,
    "partidas_totales": 0,
}


class Listener:
    transport: WebSocketTransport | None = None

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        pass

    def bytesMessageReceived(self, data: bytes) -> None:
        pass

    def connectionLost(self, reason: Any) -> None:
        self.transport = None


class ListenerFactory:
    def buildProtocol(self, request: IRequest) -> Listener:
        return Listener()


def makeApp(stats: dict[str, Any]) -> Klein:
    app = Klein()
    sockets = WebSocketResource(ListenerFactory())

    @app.route("/api/stats/global", methods=["GET"])
    def statsGlobal(request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        return json.dumps({"success": True, "stats": stats}, ensure_ascii=False).encode("utf-8")

    @app.route("/ws", methods=["GET"])
    def ws(request: IRequest) -> WebSocketResource:
        return sockets

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_klein")
    parser.add_argument("port", type=int)
    parser.add_argument("--stats", default=None, help="a JSON file with the stats to serve")
    args = parser.parse_args(argv)
    stats = STATS
    if args.stats:
        with open(args.stats, encoding="utf-8") as f:
            stats = json.load(f)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    site = Site(makeApp(stats).resource(), reactor=reactor)
    endpoints.serverFromString(reactor, f"tcp:{args.port}:interface=127.0.0.1:backlog=1024").listen(
        site
    )
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
