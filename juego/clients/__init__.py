"""
Clients of juego-tcp (scores) and juego-dist (stats and notifications).

Two families share the line protocol's code (L{juego.wire}: framing, the auth handshake,
L{decodeReply} for signed, allow-listed pickles):

  - Deferred clients for the web process: L{ScoreServiceClient} and
    L{DistServiceClient}. Each keeps a small pool of persistent connections and
    pipelines calls on them; a connection that fails or is lost is re-made after an
    exponential backoff with jitter (at most L{MAX_BACKOFF} seconds), with the service
    handshake first when there is a secret. A call fails with L{ServiceUnavailable}
    within its timeout, never hangs: at once while every connection is down, otherwise
    after L{DEFAULT_TIMEOUT} seconds without a reply. L{DistServiceClient.subscribe}
    keeps one more connection that receives every new notification.
  - Blocking clients for scripts, with the seed's API (README, "Python clients"):
    L{DistributedServiceClient} and L{ScoreClient}. Every call answers C{(ok, reply)} and
    a down service is C{(False, {"success": False, "error": ..., "code": "unavailable"})}.

What the web process needs of either service is written down as L{typing.Protocol}s in
L{juego.clients.protocols}; the clients and the tests' fakes both satisfy them.

Each connection is a L{juego.reconnect.Link}: Twisted's C{ClientService} with the one
backoff of every link, handed only connections whose handshake went through.
"""

from juego.clients.blocking import DistributedServiceClient, ScoreClient
from juego.clients.common import DEFAULT_TIMEOUT, ReplyRefused, ServiceUnavailable
from juego.clients.deferred import (
    DistServiceClient,
    ScoreServiceClient,
    ServiceClient,
    Subscription,
)
from juego.reconnect import MAX_BACKOFF, backoffDelay

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_BACKOFF",
    "DistServiceClient",
    "DistributedServiceClient",
    "ReplyRefused",
    "ScoreClient",
    "ScoreServiceClient",
    "ServiceClient",
    "ServiceUnavailable",
    "Subscription",
    "backoffDelay",
]
