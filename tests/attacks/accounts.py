"""
Attacks on accounts, run as an attacker would: against a real C{twistd juego} on a scratch
database, with bursts of concurrent connections (one socket each, all sent before any
answer is read). C{JUEGO_TRUSTED_PROXIES=127.0.0.1} lets a test speak for many client
addresses through C{X-Forwarded-For}, as a botnet behind the site's proxy would appear.

  (a) 100 concurrent wrong logins at one account, the right password as #97: at most
      five passwords are checked (the process's own count, C{/metrics}) and the right one
      does not get in;
  (b) a returning player's login answers in under a second during a 150-guess burst
      from 150 addresses at 150 accounts (every guess costing a hash);
  (c) the owner's browser (its device cookie) logs in after 20 strangers' failures from
      rotating addresses, while a stranger with the right password is held off;
  (d) sign-up and new-partida bursts get 429 with C{Retry-After};
  (e) weak passwords are refused, with the reason.
"""

from __future__ import annotations

import json
import re
import socket
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import attrs
from twisted.trial.unittest import SynchronousTestCase

from juego.web.throttle import PER_ACCOUNT
from tests.processes import ServiceProcess, freePorts

#: Variables of the caller's that would point the service elsewhere.
FOREIGN = [
    "JUEGO_LOG_FILE",
    "JUEGO_DATABASE_URL",
    "JUEGO_REDIS_URL",
    "JUEGO_SERVICE_SECRET",
    "MAIN_SERVER_HOST",
    "MAIN_SERVER_PORT",
    "TCP_PERSIST_HOST",
    "TCP_PERSIST_PORT",
    "DISTRIBUTED_HOST",
    "DISTRIBUTED_PORT",
]
PASSWORD = "tortuga azul bajo la lluvia"


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes
    seconds: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for value in self.headers.get("set-cookie", []):
            jar.load(value)
        return {name: morsel.value for name, morsel in jar.items() if morsel.value}


class Sent:
    """
    A request written on its own connection, its answer not read yet.
    """

    def __init__(
        self,
        port: int,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Connection: close",
            "Accept: application/json",
            f"Content-Length: {len(payload)}",
        ]
        if method == "POST":
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.started = time.monotonic()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + payload)

    def answer(self) -> Answer:
        chunks = []
        with self.sock:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        seconds = time.monotonic() - self.started
        raw = b"".join(chunks)
        head, _, body = raw.partition(b"\r\n\r\n")
        statusLine, *headerLines = head.decode("latin-1").split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in headerLines:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        if "chunked" in ",".join(headers.get("transfer-encoding", [])):
            body = _dechunk(body)
        return Answer(int(statusLine.split()[1]), headers, body, seconds)


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        out.append(rest[:n])
        rest = rest[n + 2 :]
    return b"".join(out)


def forwardedFor(i: int) -> dict[str, str]:
    """
    The headers of a request from the C{i}-th address of a botnet (through the proxy).
    """
    return {"X-Forwarded-For": f"10.{i // 60000 % 250}.{i // 250 % 240}.{i % 250 + 1}"}


class Browser:
    """
    One player's browser: its cookies kept between requests.
    """

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.headers = headers or {}

    def send(self, method: str, path: str, body: Any = None) -> Sent:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return Sent(self.port, method, path, body, headers)

    def request(self, method: str, path: str, body: Any = None) -> Answer:
        answer = self.send(method, path, body).answer()
        self.cookies.update(answer.cookies())
        return answer


class AccountAttackTests(SynchronousTestCase):
    def start(self, env: dict[str, str] | None = None) -> None:
        directory = Path(self.mktemp()).resolve()
        directory.mkdir(parents=True)
        web, tcp, dist = freePorts(3)
        self.port = web
        self.service = ServiceProcess(
            "juego",
            [
                "--web",
                f"tcp:{web}:interface=127.0.0.1:backlog=1024",
                "--tcp",
                f"tcp:{tcp}:interface=127.0.0.1",
                "--dist",
                f"tcp:{dist}:interface=127.0.0.1",
                "--database",
                f"sqlite:///{directory}/juego.db",
            ],
            str(directory),
            web,
            env={"JUEGO_TRUSTED_PROXIES": "127.0.0.1", **(env or {})},
            without=FOREIGN,
        )
        self.addCleanup(self.service.stop)
        self.service.start()

    def signUp(self, nombre: str, email: str, headers: dict[str, str] | None = None) -> Browser:
        browser = Browser(self.port, headers)
        answer = browser.request(
            "POST", "/api/registro", {"nombre": nombre, "email": email, "password": PASSWORD}
        )
        self.assertEqual(answer.status, 201, answer.body)
        return browser

    def metric(self, name: str) -> float:
        answer = Sent(self.port, "GET", "/metrics").answer()
        found = re.search(
            rf"^{re.escape(name)} ([0-9.e+]+)$", answer.body.decode("utf-8"), re.MULTILINE
        )
        return float(found.group(1)) if found else 0.0

    def verifications(self) -> float:
        return self.metric('juego_password_work_total{kind="verify"}')

    def burst(self, requests: list[tuple[str, str, Any, dict[str, str]]]) -> list[Answer]:
        """
        Send every request on its own connection, then read every answer.
        """
        sent = [Sent(self.port, method, path, body, h) for method, path, body, h in requests]
        return [s.answer() for s in sent]

    def test_a_concurrentGuessesAtOneAccount(self) -> None:
        """
        With room for all 100 in the hashing queue, so that only the throttle's
        reservations stand between the guesses and the password checks.
        """
        self.start({"JUEGO_HASH_QUEUE": "200"})
        self.signUp("Ana", "ana@example.com")
        before = self.verifications()
        guesses = [
            ("POST", "/api/login", {"email": "ana@example.com", "password": f"intento {i}"}, {})
            for i in range(100)
        ]
        guesses[96] = ("POST", "/api/login", {"email": "ana@example.com", "password": PASSWORD}, {})
        answers = self.burst(guesses)
        statuses = [a.status for a in answers]
        self.assertLessEqual(self.verifications() - before, PER_ACCOUNT)
        self.assertEqual(answers[96].status, 429, answers[96].body)
        self.assertNotIn(200, statuses)
        self.assertEqual(statuses.count(401) + statuses.count(429), 100, statuses)
        for answer in answers:
            if answer.status == 429:
                self.assertEqual(answer.json["code"], "demasiados_intentos")
                self.assertGreater(int(answer.header("retry-after") or 0), 0)
        # No session was handed out.
        self.assertFalse(any("juego_sesion" in a.cookies() for a in answers))

    def test_b_loginDuringAGuessingBurst(self) -> None:
        """
        The bar is one second, or three times the same login on the same machine without
        a burst if that is longer (a loaded test machine can take most of a second per
        argon2 hash). Waiting behind the burst's hashes would take 50 times that.
        """
        self.start()
        ana = self.signUp("Ana", "ana@example.com")
        login = {"email": "ana@example.com", "password": PASSWORD}
        ana.request("POST", "/api/logout")
        quiet = ana.request("POST", "/api/login", login)
        self.assertEqual(quiet.status, 200)
        ana.request("POST", "/api/logout")
        bar = max(1.0, 3 * quiet.seconds)
        # 150 guesses, from 150 addresses, at 150 accounts: none is throttled, each one
        # asks for a password check.
        guesses = [
            Sent(
                self.port,
                "POST",
                "/api/login",
                {"email": f"victima{i}@example.com", "password": f"intento {i}"},
                forwardedFor(i),
            )
            for i in range(150)
        ]
        # Ana, in the browser she signed up with, in the thick of it.
        answer = ana.request("POST", "/api/login", login)
        # And a request that hashes nothing.
        ranking = Sent(self.port, "GET", "/api/ranking").answer()
        answers = [g.answer() for g in guesses]
        self.assertEqual(answer.status, 200, answer.body)
        self.assertLess(answer.seconds, bar)
        self.assertEqual(ranking.status, 200)
        self.assertLess(ranking.seconds, 1.0)
        # The guesses were checked or refused at once, never left waiting in a long queue.
        statuses = {a.status for a in answers}
        self.assertLessEqual(statuses, {401, 503}, statuses)
        for a in answers:
            if a.status == 503:
                self.assertEqual(a.json["code"], "servidor_ocupado")
                self.assertEqual(a.header("retry-after"), "1")
        self.assertIn(503, statuses)

    def test_c_ownerLogsInAfterStrangersFailures(self) -> None:
        self.start()
        owner = self.signUp("Ana", "ana@example.com")
        owner.request("POST", "/api/logout")
        self.assertIn("juego_dispositivo", owner.cookies)
        # One after the other (together, most would find the hashing queue full: 503).
        statuses = [
            Browser(self.port, forwardedFor(1000 + i))
            .request("POST", "/api/login", {"email": "ana@example.com", "password": f"x{i}"})
            .status
            for i in range(20)
        ]
        self.assertEqual(statuses, [401] * PER_ACCOUNT + [429] * (20 - PER_ACCOUNT))
        # A stranger who knows the password is held off too...
        stranger = Browser(self.port, forwardedFor(2000)).request(
            "POST", "/api/login", {"email": "ana@example.com", "password": PASSWORD}
        )
        self.assertEqual(stranger.status, 429)
        # ...but the owner's browser logs in.
        answer = owner.request(
            "POST", "/api/login", {"email": "ana@example.com", "password": PASSWORD}
        )
        self.assertEqual(answer.status, 200, answer.body)
        self.assertEqual(owner.request("GET", "/api/yo").json["user"]["email"], "ana@example.com")

    def test_d_signUpAndPartidaBursts(self) -> None:
        self.start()
        answers = self.burst(
            [
                (
                    "POST",
                    "/api/registro",
                    {"nombre": f"Bot{i}", "email": f"bot{i}@example.com", "password": PASSWORD},
                    {},
                )
                for i in range(60)
            ]
        )
        statuses = [a.status for a in answers]
        self.assertGreater(statuses.count(201), 0)
        self.assertLessEqual(statuses.count(201), 10)
        self.assertGreaterEqual(statuses.count(429), 50)
        # Those not made were refused at once: 429 (the address's limit) or 503 (the
        # hashing queue full), each with Retry-After.
        self.assertEqual(
            statuses.count(201) + statuses.count(429) + statuses.count(503), 60, statuses
        )
        for a in answers:
            if a.status == 429:
                self.assertEqual(a.json["code"], "demasiadas_peticiones")
            if a.status != 201:
                self.assertGreater(int(a.header("retry-after") or 0), 0)

        player = self.signUp("Ana", "ana@example.com", forwardedFor(1))
        cookie = "; ".join(f"{k}={v}" for k, v in player.cookies.items())
        answers = self.burst(
            [("POST", "/api/partidas", {}, {"Cookie": cookie}) for _ in range(300)]
        )
        statuses = [a.status for a in answers]
        self.assertLessEqual(statuses.count(201), 10)
        self.assertEqual(statuses.count(201) + statuses.count(429), 300, set(statuses))
        refused = [a for a in answers if a.status == 429]
        self.assertTrue(all(int(a.header("retry-after") or 0) > 0 for a in refused))

    def test_e_weakPasswordsRefusedWithAReason(self) -> None:
        self.start()
        for password, reason in [
            (" " * 8, "solo espacios"),
            ("12345678", "más usadas"),
            ("password1", "más usadas"),
            ("anabelgarcia77", "tu nombre o tu correo"),
        ]:
            answer = Browser(self.port).request(
                "POST",
                "/api/registro",
                {"nombre": "Anabel", "email": "anabelgarcia@example.com", "password": password},
            )
            self.assertEqual(answer.status, 400, password)
            self.assertEqual(answer.json["campo"], "password")
            self.assertIn(reason, answer.json["error"])
