"""
The reference: a bare Twisted JSON-lines server that parses each request and answers
without doing any work. Run as C{python -m bench.bare PORT}.
"""

from __future__ import annotations

import json
import sys

from twisted.internet import endpoints, reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver


class Bare(LineReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 64 * 1024

    def lineReceived(self, line: bytes) -> None:
        request = json.loads(line)
        reply = {
            "success": True,
            "score_id": 1,
            "nuevo_record": False,
            "puntaje_maximo": request.get("puntaje", 0),
        }
        if "id" in request:
            reply["id"] = request["id"]
        self.transport.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")


def main(port: int) -> None:
    endpoint = endpoints.serverFromString(reactor, f"tcp:{port}:interface=127.0.0.1")
    endpoint.listen(Factory.forProtocol(Bare))
    reactor.run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
