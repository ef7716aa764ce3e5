"""
What juego-web makes of hostile input before any handler: JSON bodies (depth, encoding,
numbers), the C{Host} header (L{juego.web.hosts}), paths with NUL or bad encodings, and who
may read C{/metrics} (L{juego.web.networks}). In memory, over StubTreq.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel

from juego.config import ConfigError
from juego.metrics import Metrics
from juego.store.pool import SynchronousReactorThreads
from juego.web.app import Application
from juego.web.body import MAX_DEPTH, parseJSON, tooDeep
from juego.web.errors import HostNotAllowed, InvalidJSON
from juego.web.hosts import (
    AllowedHosts,
    endpointInterface,
    normaliseName,
    parseHost,
    validatedHost,
)
from juego.web.networks import NetworkList, metricsAllowList
from juego.web.proxies import TrustedProxies
from tests.websupport import PASSWORD, WebTestCase

JSON = {"Content-Type": "application/json"}

#: Bodies that must be 400 invalid_json, by what is wrong with them.
BAD_BODIES = {
    "nested arrays": b"[" * 30000 + b"]" * 30000,
    "nested objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "unclosed arrays": b"[" * 60000,
    "one level too deep": b'{"a":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
    "invalid UTF-8": b'{"nombre": "\xff"}',
    "UTF-8 surrogate": b'{"nombre": "\xed\xa0\x80"}',
    "UTF-16": '{"a": 1}'.encode("utf-16"),
    "escaped lone surrogate": b'{"nombre": "\\ud800"}',
    "escaped NUL": b'{"email": "a\\u0000@example.com"}',
    "NUL in a key": b'{"a\\u0000": 1}',
    "NaN": b'{"limit": NaN}',
    "Infinity": b'{"limit": -Infinity}',
    "float overflow": b'{"limit": 1e999}',
    "integer beyond 64 bits": b'{"ids": [9223372036854775808]}',
    "integer beyond int's digit limit": b'{"ids": [' + b"9" * 5000 + b"]}",
    "truncated": b'{"a": ',
}


class ParseJSONTests(SynchronousTestCase):
    def test_refused(self):
        for why, raw in BAD_BODIES.items():
            try:
                parseJSON(raw)
            except InvalidJSON:
                continue
            self.fail(f"{why}: accepted")

    def test_accepted(self):
        deepest = b'{"a":' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
        self.assertEqual(parseJSON(deepest)["a"], json.loads(deepest)["a"])
        # Brackets, escapes and big-looking digits inside strings are only text.
        text = {"a": "[" * 100 + '\\"' + "{" * 100, "b": "9" * 40, "c": "e123", "d": "😀"}
        self.assertEqual(parseJSON(json.dumps(text).encode()), text)
        self.assertEqual(parseJSON(json.dumps(text, ensure_ascii=False).encode()), text)
        self.assertEqual(parseJSON(b"[9223372036854775807, -9223372036854775807]")[0], 2**63 - 1)
        self.assertEqual(parseJSON(b"[1.5e308, 1e-999, 12.25]"), [1.5e308, 0.0, 12.25])
        self.assertEqual(parseJSON(b'"\\ud83d\\ude00"'), "😀")

    def test_escapedQuoteDoesNotHideBrackets(self):
        # '\\"' inside a string must not end it, nor may '\\\\' before a real quote hide
        # the brackets after it.
        self.assertTrue(tooDeep(b'["\\"", ' + b"[" * 40 + b"]" * 40 + b"]"))
        self.assertTrue(tooDeep(b'["\\\\", ' + b"[" * 40 + b"]" * 40 + b"]"))
        self.assertFalse(tooDeep(b'["\\"' + b"[" * 40 + b'"]'))
        # Closing brackets inside strings (with escaped quotes around them, or not) do
        # not make room for more opening ones outside.
        for string in [b'"\\"' + b"]" * 100 + b'\\""', b'"' + b"]" * 100 + b'"']:
            self.assertTrue(tooDeep(b"[" + string + b"," + b"[" * 40 + b"]" * 41), string)
            self.assertFalse(tooDeep(b"[" + string + b"," + b"[" * 30 + b"]" * 31), string)
        # Depth exactly at the limit, with and without empty leaves.
        for leaf, extra in [(b"1", 0), (b"[]", 1), (b"{}", 1), (b'"x"', 0)]:
            for depth in range(MAX_DEPTH - 3, MAX_DEPTH + 3):
                raw = b"[" * depth + leaf + b"]" * depth
                self.assertEqual(tooDeep(raw), depth + extra > MAX_DEPTH, (leaf, depth))

    def test_guardarPuntajeBodyIsCheap(self):
        # The hot path's body (hundreds of brackets, no escapes) is below the limit.
        events = [{"t": 900 * i, "ok": True, "errores": 0, "teclas": [1, 2, 3]} for i in range(300)]
        raw = json.dumps({"partida_id": "x", "eventos": events}).encode()
        self.assertFalse(tooDeep(raw))
        self.assertEqual(len(parseJSON(raw)["eventos"]), 300)


class BadBodyTests(WebTestCase):
    def test_eachIsOneLogLine(self):
        client, _ = self.signUp()
        for why, raw in BAD_BODIES.items():
            with capturedLogs() as events:
                reply = client.post("/api/partidas", data=raw, headers=JSON)
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_json"), why)
            self.assertEqual(len(events), 1, (why, events))
            self.assertNotIn("log_failure", events[0], why)
            self.assertIn(" 400 ", events[0]["log_format"].format(**events[0]), why)

    def test_beforeLogin(self):
        # Sign-up and login parse their bodies before anything else.
        for path in ["/api/registro", "/api/login"]:
            reply = self.client().post(path, data=BAD_BODIES["unclosed arrays"], headers=JSON)
            self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_json"), path)

    def test_goodBodyStillWorks(self):
        client = self.client()
        reply = client.post(
            "/api/registro",
            {"nombre": "Zoë [admin] {x}", "email": "zoe@example.com", "password": PASSWORD},
        )
        self.assertEqual(reply.status, 201, reply.body)
        self.assertEqual(reply.json["user"]["nombre"], "Zoë [admin] {x}")


class HostNameTests(SynchronousTestCase):
    def test_parseHost(self):
        self.assertEqual(parseHost(b"Juego.Example.org."), ("juego.example.org", None))
        self.assertEqual(parseHost(b"juego.test:8080"), ("juego.test", 8080))
        self.assertEqual(parseHost(b"127.0.0.1:5000"), ("127.0.0.1", 5000))
        self.assertEqual(parseHost(b"[::1]:5000"), ("[::1]", 5000))
        self.assertEqual(parseHost(b"[0:0::1]"), ("[::1]", None))
        for bad in [
            b"",
            b"juego.test:",
            b"juego.test:99999",
            b"juego.test:0",
            b"juego.test:80:80",
            b"juego test",
            b"juego.test/evil",
            b"user@juego.test",
            b"::1",
            b"[::1",
            b"[evil]",
            b"juego.t\xc3\xa9st",
            b"juego..test",
            b"-juego.test",
            b"a" * 400,
        ]:
            self.assertIsNone(parseHost(bad), bad)

    def test_normaliseName(self):
        self.assertEqual(normaliseName("::1"), "[::1]")
        self.assertEqual(normaliseName(" LocalHost "), "localhost")
        self.assertIsNone(normaliseName("juego.test:80"))

    def test_endpointInterface(self):
        self.assertEqual(endpointInterface("tcp:5000:interface=10.0.0.11"), "10.0.0.11")
        self.assertEqual(endpointInterface(r"tcp6:5000:interface=\:\:1"), "::1")
        self.assertIsNone(endpointInterface("tcp:5000"))
        self.assertIsNone(endpointInterface("unix:/run/juego.sock"))

    def test_default(self):
        hosts = AllowedHosts.fromEnvironment("tcp:5000:interface=10.0.0.11", {})
        self.assertEqual(hosts.names, {"localhost", "127.0.0.1", "[::1]", "10.0.0.11"})
        self.assertFalse(hosts.anyHost)
        hosts = AllowedHosts.fromEnvironment(
            "tcp:5000:interface=0.0.0.0", {"MAIN_SERVER_HOST": "Juego.Example.org"}
        )
        self.assertEqual(hosts.names, {"localhost", "127.0.0.1", "[::1]", "juego.example.org"})

    def test_configured(self):
        hosts = AllowedHosts.fromEnvironment(
            "tcp:5000:interface=10.0.0.11",
            {"JUEGO_ALLOWED_HOSTS": "juego.example.org, www.juego.example.org,::1"},
        )
        # The variable replaces the default (loopback included, unless listed).
        self.assertEqual(hosts.names, {"juego.example.org", "www.juego.example.org", "[::1]"})
        self.assertTrue(AllowedHosts.fromEnvironment(None, {"JUEGO_ALLOWED_HOSTS": "*"}).anyHost)
        for bad in ["juego.example.org:443", "http://juego.example.org", "*.example.org"]:
            self.assertRaises(
                ConfigError, AllowedHosts.fromEnvironment, None, {"JUEGO_ALLOWED_HOSTS": bad}
            )


class HostCheckTests(WebTestCase):
    def test_otherHostRefused(self):
        client = self.client()
        for host in ["evil.example", "juego.test.evil.example", "127.0.0.1", "juego.test:bad"]:
            for method, path in [("GET", "/"), ("GET", "/api/ranking"), ("POST", "/api/login")]:
                reply = client.request(method, path, headers={"Host": host})
                self.assertEqual(
                    (reply.status, reply.json["code"]), (400, "host_no_permitido"), (host, path)
                )
                self.assertIn("Host", reply.json["error"])
                # The refusal has the site's security headers and a request id.
                self.assertEqual(reply.header("X-Frame-Options"), "DENY")
                self.assertIsNotNone(reply.header("X-Request-Id"))

    def test_allowedHostAnyPortAndCase(self):
        client = self.client()
        for host in ["juego.test", "JUEGO.TEST:8080", "juego.test."]:
            self.assertEqual(client.get("/api/ranking", headers={"Host": host}).status, 200, host)

    def test_severalHostHeadersRefused(self):
        # No HTTP client sends two (StubTreq refuses to): the check itself, on a request.
        request = Request(DummyChannel())
        request.requestHeaders.setRawHeaders(b"host", [b"juego.test", b"evil.example"])
        self.assertRaises(HostNotAllowed, self.app.hosts.check, request)
        request.requestHeaders.setRawHeaders(b"host", [b"juego.test", b"juego.test"])
        self.assertRaises(HostNotAllowed, self.app.hosts.check, request)
        request.requestHeaders.removeHeader(b"host")
        self.assertRaises(HostNotAllowed, self.app.hosts.check, request)
        request.requestHeaders.setRawHeaders(b"host", [b"Juego.Test:8080"])
        self.assertEqual(self.app.hosts.check(request), "juego.test:8080")
        self.assertEqual(validatedHost(request), "juego.test:8080")

    def test_proxyKeepsSeveralHostHeaders(self):
        # Marking a proxied request secure must not merge several Host headers into one
        # that would pass the check.
        request = Request(DummyChannel())
        request.client = IPv4Address("TCP", "10.0.0.2", 40000)
        request.requestHeaders.setRawHeaders(b"host", [b"evil.example", b"juego.test"])
        request.requestHeaders.setRawHeaders(b"x-forwarded-proto", [b"https"])
        TrustedProxies(["10.0.0.0/8"]).apply(request)
        self.assertRaises(HostNotAllowed, self.app.hosts.check, request)

    def test_csrfComparesWithTheValidatedHost(self):
        # With any host allowed (an operator's explicit "*"), the Origin must still be
        # the host of this very request.
        self.app.hosts = AllowedHosts(["*"])
        self.resource = self.app.resource()
        client = self.client()
        body = {"email": "a@example.com", "password": "x"}
        reply = client.post(
            "/api/login",
            body,
            headers={"Host": "evil.example", "Origin": "http://juego.test"},
        )
        self.assertEqual((reply.status, reply.json["code"]), (403, "csrf"))
        reply = client.post(
            "/api/login",
            body,
            headers={"Host": "juego.test", "Origin": "http://juego.test"},
        )
        self.assertEqual(reply.json["code"], "credenciales_invalidas")

    def test_httpOriginRefusedOverHTTPS(self):
        # A page on http://juego.test (anyone on the network path can write one) may not
        # act on the https site; the https page may.
        client = self.client()
        body = {"email": "a@example.com", "password": "x"}
        for origin, status in [("http://juego.test", 403), ("https://juego.test", 401)]:
            response = client._settle(
                client.treq.post(
                    "https://juego.test/api/login", json=body, headers={"Origin": origin}
                )
            )
            client._settle(response.content())
            self.assertEqual(response.code, status, origin)

    def test_rebindingOriginRefused(self):
        # DNS rebinding: evil.example now resolves here; its page posts with its own
        # Origin and Host. Before routing, the host is refused.
        reply = self.client().post(
            "/api/registro",
            {"nombre": "x", "email": "x@example.com", "password": PASSWORD},
            headers={"Host": "evil.example", "Origin": "http://evil.example"},
        )
        self.assertEqual((reply.status, reply.json["code"]), (400, "host_no_permitido"))

    def test_forwardedHostIgnored(self):
        self.app.proxies = TrustedProxies(["127.0.0.1"])
        self.resource = self.app.resource()
        reply = self.client().get(
            "/api/ranking", headers={"Host": "evil.example", "X-Forwarded-Host": "juego.test"}
        )
        self.assertEqual(reply.status, 400)
        reply = self.client().get(
            "/api/ranking",
            headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        )
        self.assertEqual(reply.status, 200)


class BadPathTests(WebTestCase):
    def test_nulAndBadEncodings(self):
        client = self.client()
        for path in [
            "/static/%00",
            "/static/js/%00common.js",
            "/static/css/x%00.css",
            "/static/%ff",
            "/static/%c0%ae%c0%ae/setup.cfg",
            "/static/..%2fsetup.cfg",
            "/static/" + "a" * 5000,
            "/%00",
            "/perfil%00",
            "/%ff%fe",
            "/api/%00",
            "/api/partidas/%00",
            "/api/partidas/%ff",
            "/repeticion/%00",
            "/%",
            "/%zz",
        ]:
            with capturedLogs() as events:
                reply = client.get(path)
            self.assertEqual(reply.status, 404, (path, reply.body[:200]))
            self.assertEqual([e for e in events if "log_failure" in e], [], path)


class _InThisThread:
    """
    A thread pool that runs work at once (the metrics resource answers in the request).
    """

    def callInThread(self, f: Any, *a: Any, **kw: Any) -> None:
        f(*a, **kw)


class MetricsAccessTests(WebTestCase):
    def buildApplication(self, **kw: Any) -> Application:
        metrics = Metrics(reactor=SynchronousReactorThreads(), threadpool=_InThisThread())
        return super().buildApplication(metrics=metrics, **kw)

    def test_loopbackByDefault(self):
        # StubTreq's client is 127.0.0.1.
        reply = self.client().get("/metrics")
        self.assertEqual(reply.status, 200)
        self.assertIn(b"juego_http_requests_total", reply.body)

    def notFoundPage(self):
        return self.client().get("/no-existe")

    def test_outsiderGetsThe404Page(self):
        self.app.metricsAllow = NetworkList(["10.0.0.0/8"])
        self.resource = self.app.resource()
        expected = self.notFoundPage()
        for method in ["GET", "HEAD", "POST", "DELETE"]:
            reply = self.client().request(method, "/metrics", headers=JSON)
            self.assertEqual(reply.status, 404, method)
            if method == "GET":
                self.assertEqual(reply.body, expected.body)
                self.assertEqual(reply.header("Content-Type"), expected.header("Content-Type"))

    def test_realClientBehindProxy(self):
        # nginx (trusted, on loopback) forwards a player's request: the player is refused.
        self.app.proxies = TrustedProxies(["127.0.0.1"])
        self.resource = self.app.resource()
        reply = self.client().get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        self.assertEqual(reply.status, 404)
        # A player cannot pretend to be loopback through the proxy.
        reply = self.client().get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
        self.assertEqual(reply.status, 404)
        # A scraper next to nginx, not through it, still reads them.
        self.assertEqual(self.client().get("/metrics").status, 200)

    def test_allowedClientOtherMethod(self):
        reply = self.client().post("/metrics", {})
        self.assertEqual((reply.status, reply.json["code"]), (405, "metodo_no_permitido"))

    def test_setting(self):
        default = metricsAllowList({})
        self.assertTrue(default.contains("127.0.0.1"))
        self.assertTrue(default.contains("::1"))
        self.assertTrue(default.contains("::ffff:127.0.0.1"))
        self.assertFalse(default.contains("10.0.0.1"))
        self.assertFalse(default.contains("not an address"))
        mine = metricsAllowList({"JUEGO_METRICS_ALLOW": "10.0.0.0/24, 192.0.2.7"})
        self.assertTrue(mine.contains("10.0.0.200"))
        self.assertTrue(mine.contains("192.0.2.7"))
        self.assertFalse(mine.contains("127.0.0.1"))
        self.assertFalse(metricsAllowList({"JUEGO_METRICS_ALLOW": "none"}).contains("127.0.0.1"))
        self.assertRaises(ConfigError, metricsAllowList, {"JUEGO_METRICS_ALLOW": "10.0.0.0/33"})
