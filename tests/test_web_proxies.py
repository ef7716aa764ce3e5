"""
Requests through a trusted reverse proxy: the client address and scheme come from its
forwarding headers, and nobody else's.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel

from juego.web.proxies import TrustedProxies
from juego.web.throttle import clientAddress


def request(peer: str, **headers: str) -> Request:
    r = Request(DummyChannel())
    r.client = IPv4Address("TCP", peer, 40000)
    r.requestHeaders.setRawHeaders(b"host", [b"juego.example:80"])
    for name, value in headers.items():
        r.requestHeaders.setRawHeaders(name.replace("_", "-").encode(), [value.encode()])
    return r


class TrustedProxiesTests(SynchronousTestCase):
    def setUp(self):
        self.proxies = TrustedProxies.fromEnvironment(
            {"JUEGO_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"}
        )

    def test_clientFromTrustedProxy(self):
        r = request("10.0.0.5", x_forwarded_for="198.51.100.7, 10.0.0.9")
        self.proxies.apply(r)
        self.assertEqual(clientAddress(r), "198.51.100.7")

    def test_spoofedLeftmostIgnored(self):
        # The player sends their own X-Forwarded-For; nginx appends the real address.
        r = request("127.0.0.1", x_forwarded_for="1.2.3.4, 203.0.113.9")
        self.proxies.apply(r)
        self.assertEqual(clientAddress(r), "203.0.113.9")

    def test_untrustedPeerHeadersIgnored(self):
        r = request("203.0.113.50", x_forwarded_for="1.2.3.4", x_forwarded_proto="https")
        self.proxies.apply(r)
        self.assertEqual(clientAddress(r), "203.0.113.50")
        self.assertFalse(r.isSecure())

    def test_httpsFromTrustedProxy(self):
        r = request("10.1.2.3", x_forwarded_proto="https")
        self.assertFalse(r.isSecure())
        self.proxies.apply(r)
        self.assertTrue(r.isSecure())

    def test_noneTrustedByDefault(self):
        proxies = TrustedProxies.fromEnvironment({})
        r = request("127.0.0.1", x_forwarded_for="9.9.9.9", x_forwarded_proto="https")
        proxies.apply(r)
        self.assertEqual(clientAddress(r), "127.0.0.1")
        self.assertFalse(r.isSecure())

    def test_garbageForwardedFor(self):
        r = request("10.0.0.5", x_forwarded_for="not-an-address")
        self.proxies.apply(r)
        self.assertEqual(clientAddress(r), "10.0.0.5")
