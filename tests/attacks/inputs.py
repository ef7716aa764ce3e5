"""
Issue 10's input attacks replayed against a real C{twistd -n juego} (all three services,
fresh SQLite, the default settings an operator gets), over plain sockets and
C{http.client}, plus the post-login open redirect in Debian's Chromium.

  - JSON bodies nested 30,000 deep, C{[} × 60,000, invalid UTF-8, NaN, huge numbers: 400
    C{invalid_json}, one log line each, no traceback, also in a concurrent burst; the
    deepest of them as lines on juego-tcp's and juego-dist's ports: C{invalid_json} too;
  - C{/static/%00} and other NUL or non-UTF-8 paths: 404, no traceback;
  - a foreign C{Host} (or two, or none): 400 C{host_no_permitido} before routing, even with
    a matching C{Origin} (DNS rebinding) or an C{X-Forwarded-Host};
  - C{/metrics}: loopback reads it; a client forwarded by a trusted proxy gets the 404 page;
  - C{/login?next=/%09/evil.example} (and C{//evil.example}, C{https://evil.example/},
    C{/\\evil.example}, C{javascript:...}): after login the browser is still on the site.

Plain SynchronousTestCase: trial's reactor never runs here.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests.processes import ServiceProcess, freePorts
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, requireBrowser

PASSWORD = "contraseña-de-prueba"
JSON = {"Content-Type": "application/json"}
#: Settings of the developer's shell that must not leak into the process under test.
CLEARED = tuple(
    k
    for k in os.environ
    if k.startswith(("JUEGO_", "MAIN_SERVER_", "TCP_PERSIST_", "DISTRIBUTED_"))
)

#: Hostile bodies (each within the 64 KiB limit), all 400 invalid_json.
BAD_BODIES: dict[str, bytes] = {
    "nested arrays": b"[" * 30000 + b"]" * 30000,
    "nested objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "unclosed arrays": b"[" * 60000,
    "invalid UTF-8": b'{"email": "\xff\xfe", "password": "x"}',
    "escaped NUL": b'{"email": "a\\u0000@example.com", "password": "x"}',
    "lone surrogate": b'{"email": "\\udc00@example.com", "password": "x"}',
    "NaN": b'{"email": "a@example.com", "password": NaN}',
    "huge integer": b'{"email": "a@example.com", "password": ' + b"9" * 4400 + b"}",
    "integer beyond 64 bits": b'{"ids": [99999999999999999999]}',
    "float overflow": b'{"email": "a@example.com", "password": 1e400}',
}

#: Paths that no route names: 404, never 500.
BAD_PATHS = [
    "/static/%00",
    "/static/js/%00",
    "/static/%ff",
    "/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/%00",
    "/juego%00",
    "/%ff%fe",
    "/api/%00",
    "/api/partidas/%00",
    "/api/partidas/%c3%28",
]


class Juego:
    """
    C{twistd -n juego} on free loopback ports in a temporary directory.
    """

    def __init__(self, case: SynchronousTestCase, env: Mapping[str, str] | None = None) -> None:
        directory = Path(case.mktemp()).resolve()
        directory.mkdir(parents=True)
        self.web, tcp, dist = freePorts(3)
        self.tcp, self.dist = tcp, dist
        self.base = f"http://127.0.0.1:{self.web}"
        self.process = ServiceProcess(
            "juego",
            [
                "--web",
                f"tcp:{self.web}:interface=127.0.0.1",
                "--tcp",
                f"tcp:{tcp}:interface=127.0.0.1",
                "--dist",
                f"tcp:{dist}:interface=127.0.0.1",
                "--database",
                f"sqlite:///{directory / 'juego.db'}",
            ],
            str(directory),
            self.web,
            env={"JUEGO_SERVICE_SECRET": secrets.token_hex(16), **(env or {})},
            without=CLEARED,
        )
        self.process.start()
        case.addCleanup(self.process.stop)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.web, timeout=30)
        try:
            names = {k.lower() for k in headers or {}}
            # http.client would add its own Host: put ours (or none) instead.
            connection.putrequest(method, path, skip_host="host" in names)
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def raw(self, head: bytes) -> bytes:
        """
        Send C{head} as it is (a request the HTTP libraries would not make) and read the
        whole answer (the request asks for the connection to close).
        """
        with socket.create_connection(("127.0.0.1", self.web), timeout=30) as s:
            s.sendall(head)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def signUp(self, email: str) -> None:
        body = json.dumps({"nombre": "Ana", "email": email, "password": PASSWORD}).encode()
        status, _, reply = self.request("POST", "/api/registro", body, JSON)
        assert status == 201, reply

    def log(self) -> str:
        # The log file is written line by line: poll briefly for the request lines.
        return self.process.log()

    def waitForLog(self, needle: str, count: int = 1, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if text.count(needle) >= count or time.monotonic() > deadline:
                return text
            time.sleep(0.05)


def code(body: bytes) -> str | None:
    try:
        return json.loads(body).get("code")
    except ValueError:
        return None


class InputAttackTests(SynchronousTestCase):
    def assertNoTraceback(self, log: str) -> None:
        for marker in ("Traceback", "#critical]", "#error]", "Unhandled"):
            self.assertNotIn(marker, log, log[-3000:])

    def test_badBodiesAndPaths(self):
        juego = Juego(self)
        for why, body in BAD_BODIES.items():
            for path in ["/api/login", "/api/registro"]:
                status, _, reply = juego.request("POST", path, body, JSON)
                self.assertEqual((status, code(reply)), (400, "invalid_json"), (why, path, reply))
        for path in BAD_PATHS:
            status, _, reply = juego.request("GET", path)
            self.assertEqual(status, 404, (path, reply[:300]))

        # A burst from many clients at once: every one refused, the site still answers.
        def attack(i: int) -> tuple[int, str | None]:
            body = list(BAD_BODIES.values())[i % len(BAD_BODIES)]
            status, _, reply = juego.request("POST", "/api/login", body, JSON)
            return status, code(reply)

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(attack, range(64)))
        self.assertEqual(set(results), {(400, "invalid_json")})
        self.assertEqual(juego.request("GET", "/api/stats/global")[0], 200)

        # One log line per refused body, and no traceback anywhere.
        refused = 2 * len(BAD_BODIES) + 64
        log = juego.waitForLog(" 400 ", refused)
        self.assertEqual(
            log.count("POST /api/login 400 ") + log.count("POST /api/registro 400 "), refused
        )
        self.assertEqual(log.count(" 404 "), len(BAD_PATHS), log[-3000:])
        self.assertNoTraceback(log)

    def test_deepLineOnTheServicePorts(self):
        # The same body as a line of the line protocol (juego-tcp, juego-dist): an
        # invalid_json reply, the connection still usable, no traceback.
        juego = Juego(self)
        for port in (juego.tcp, juego.dist):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                reader = s.makefile("rb")
                for line in (b"[" * 60000, b'{"a":' * 10000 + b"1" + b"}" * 10000):
                    s.sendall(line + b"\n")
                    self.assertEqual(code(reader.readline()), "invalid_json", port)
                s.sendall(b'{"action": "ping"}\n')
                self.assertIn(b"pong", reader.readline())
        self.assertNoTraceback(juego.log())

    def test_foreignHosts(self):
        juego = Juego(self)
        # The loopback names of the default are served, with their port.
        for host in [f"127.0.0.1:{juego.web}", f"localhost:{juego.web}", "[::1]"]:
            status, _, _ = juego.request("GET", "/api/ranking", headers={"Host": host})
            self.assertEqual(status, 200, host)
        # DNS rebinding: the attacker's name now points here; its page's requests carry
        # its own Host and Origin, which agree with each other.
        rebinding = {"Host": "evil.example", "Origin": "http://evil.example"}
        body = json.dumps({"nombre": "x", "email": "x@example.com", "password": PASSWORD})
        for method, path, payload in [
            ("GET", "/", None),
            ("GET", "/api/ranking", None),
            ("POST", "/api/registro", body.encode()),
            ("GET", "/static/js/common.js", None),
            ("GET", "/metrics", None),
        ]:
            status, headers, reply = juego.request(
                method, path, payload, {**rebinding, **JSON} if payload else rebinding
            )
            self.assertEqual((status, code(reply)), (400, "host_no_permitido"), path)
            self.assertEqual(headers.get("X-Frame-Options"), "DENY")
        # X-Forwarded-Host changes nothing (and the client is no trusted proxy anyway).
        status, _, reply = juego.request(
            "GET",
            "/",
            headers={"Host": "evil.example", "X-Forwarded-Host": f"127.0.0.1:{juego.web}"},
        )
        self.assertEqual((status, code(reply)), (400, "host_no_permitido"))
        # Two Host headers, none at all, a malformed one.
        for head in [
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{juego.web}\r\nHost: evil.example\r\n"
            "Connection: close\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:99999\r\nConnection: close\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: evil.example@127.0.0.1\r\nConnection: close\r\n\r\n",
        ]:
            answer = juego.raw(head.encode())
            self.assertRegex(answer[:13], rb"^HTTP/1\.[01] 400", (head, answer[:300]))
            self.assertIn(b"host_no_permitido", answer)
        # The site itself is unharmed, and the refusals left no traceback.
        self.assertEqual(juego.request("GET", "/api/ranking")[0], 200)
        self.assertNoTraceback(juego.waitForLog("GET /api/ranking 200", 4))

    def test_metrics(self):
        # nginx on loopback is the trusted proxy: what it forwards is the real client's.
        juego = Juego(self, {"JUEGO_TRUSTED_PROXIES": "127.0.0.1"})
        status, _, reply = juego.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"juego_http_requests_total", reply)
        _, _, notFound = juego.request("GET", "/no-existe")
        for forwarded in ["203.0.113.9", "127.0.0.1, 203.0.113.9", "10.0.0.1"]:
            for method in ["GET", "POST", "HEAD"]:
                status, _, reply = juego.request(
                    method, "/metrics", None, {"X-Forwarded-For": forwarded}
                )
                self.assertEqual(status, 404, (forwarded, method))
                if method == "GET":
                    self.assertEqual(reply, notFound)
        self.assertNoTraceback(juego.log())

    def test_settings(self):
        juego = Juego(
            self,
            {
                "JUEGO_TRUSTED_PROXIES": "127.0.0.1",
                "JUEGO_METRICS_ALLOW": "10.0.0.0/24",
                "JUEGO_ALLOWED_HOSTS": "juego.example.org",
            },
        )
        site = {"Host": "juego.example.org"}
        forwarded = {**site, "X-Forwarded-For": "10.0.0.7"}
        self.assertEqual(juego.request("GET", "/metrics", None, forwarded)[0], 200)
        # Each list replaces its default: loopback is neither a host nor a scraper now.
        self.assertEqual(juego.request("GET", "/metrics", None, site)[0], 404)
        self.assertEqual(juego.request("GET", "/api/ranking", None, site)[0], 200)
        status, _, reply = juego.request("GET", "/api/ranking", None, {"Host": "127.0.0.1"})
        self.assertEqual((status, code(reply)), (400, "host_no_permitido"))
        # Through the trusted proxy, https: the CSRF check compares the Origin with the
        # validated host, so the site's own Origin passes and a stranger's does not.
        proxied = {**site, **JSON, "X-Forwarded-Proto": "https"}
        body = json.dumps({"email": "nadie@example.com", "password": "x"}).encode()
        for origin, expected in [
            ("https://juego.example.org", "credenciales_invalidas"),
            ("https://evil.example", "csrf"),
            ("http://juego.example.org", "csrf"),
        ]:
            _, _, reply = juego.request("POST", "/api/login", body, {**proxied, "Origin": origin})
            self.assertEqual(code(reply), expected, origin)


class OpenRedirectTests(SynchronousTestCase):
    """
    The post-login destination (C{?next=}) in a real browser.
    """

    def setUp(self) -> None:
        requireBrowser()
        self.juego = Juego(self, env={"JUEGO_RATE_LIMITS": "off"})  # 14 sign-ups at once

    def test_nextStaysOnTheSite(self) -> None:
        from playwright.sync_api import sync_playwright

        base = self.juego.base
        cases = {
            "/%09/evil.example": "/juego",
            "/%0a/evil.example": "/juego",
            "/%0d%0a/evil.example/": "/juego",
            "//evil.example": "/juego",
            "///evil.example": "/juego",
            "/%5Cevil.example": "/juego",
            "/%5C%5Cevil.example": "/juego",
            "https://evil.example/": "/juego",
            "https:evil.example": "/juego",
            "javascript:alert(1)": "/juego",
            "%2F%2Fevil.example": "/juego",
            " //evil.example": "/juego",
            "/perfil": "/perfil",
            "/perfil%3Fx%3D1": "/perfil?x=1",
        }
        emails = []
        for i in range(len(cases)):
            emails.append(f"ana{i}@example.com")
            self.juego.signUp(emails[-1])
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                visited: list[str] = []
                for email, (nextParam, expected) in zip(emails, cases.items(), strict=True):
                    # A fresh context per case: no session, so the login form shows.
                    context = browser.new_context(base_url=base)
                    page = context.new_page()
                    page.set_default_timeout(30_000)
                    page.on("request", lambda r: visited.append(r.url))
                    page.goto(f"/login?next={nextParam}")
                    page.fill("#email", email)
                    page.fill("#password", PASSWORD)
                    page.click("button[type=submit]")
                    page.wait_for_url(lambda url: not url.startswith(f"{base}/login"))
                    page.wait_for_load_state()
                    self.assertEqual(page.url, base + expected, nextParam)
                    context.close()
                self.assertEqual([u for u in visited if "evil" in u.split("?")[0]], [])
            finally:
                browser.close()
