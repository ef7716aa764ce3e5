"""
Distributed logging end to end: juego-tcp, juego-dist and juego-web as three real
C{twistd --logger juego.logging.jsonLogger} processes; one HTTP save with a given
C{X-Request-Id}; that id is then found (grep) in each of the three JSON logs.
"""

from __future__ import annotations

import http.cookiejar
import json
import secrets
import time
import urllib.request
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from juego.game import limite_ms, minimo_humano_ms
from tests.processes import ServiceProcess, freePort

LOGGER = ["--logger", "juego.logging.jsonLogger"]
#: Variables of the caller's that would point the services elsewhere.
FOREIGN = [
    "JUEGO_LOG_FILE",
    "JUEGO_DATABASE_URL",
    "MAIN_SERVER_HOST",
    "MAIN_SERVER_PORT",
    "TCP_PERSIST_HOST",
    "TCP_PERSIST_PORT",
    "DISTRIBUTED_HOST",
    "DISTRIBUTED_PORT",
]
#: Seconds the log lines of one request may take to reach all three logs.
SETTLE = 15.0


class Browser:
    """
    A JSON client with a cookie jar.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        with self.opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())


def grep(path: str, needle: str) -> list[dict[str, Any]]:
    """
    The JSON events of the log at C{path} whose line contains C{needle}.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if needle in line]


class RequestIdThroughThreeLogsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp()).resolve()
        self.dir.mkdir(parents=True)
        database = f"sqlite:///{self.dir}/juego.db"
        tcp, dist, web = freePort(), freePort(), freePort()
        env = {
            "JUEGO_SERVICE_SECRET": secrets.token_hex(16),
            "TCP_PERSIST_HOST": "127.0.0.1",
            "TCP_PERSIST_PORT": str(tcp),
            "DISTRIBUTED_HOST": "127.0.0.1",
            "DISTRIBUTED_PORT": str(dist),
        }
        self.services = {}
        for name, plugin, port in (
            ("tcp", "juego-tcp", tcp),
            ("dist", "juego-dist", dist),
            ("web", "juego-web", web),
        ):
            service = ServiceProcess(
                plugin,
                ["--listen", f"tcp:{port}:interface=127.0.0.1", "--database", database],
                str(self.dir),
                port,
                env=env,
                without=FOREIGN,
                twistdArgs=LOGGER,
            )
            self.addCleanup(service.stop)
            service.start()
            self.services[name] = service
        self.browser = Browser(f"http://127.0.0.1:{web}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{service.log()[-3000:]}" for name, service in self.services.items()
        )

    def test_oneRequestIdInEveryLog(self) -> None:
        rid = "prueba-" + secrets.token_hex(8)
        status, _, _ = self.browser.post(
            "/api/registro",
            {"nombre": "Ana", "email": "ana@example.com", "password": "contraseña-larga"},
        )
        self.assertEqual(status, 201)
        _, _, body = self.browser.post("/api/partidas", {})
        partida = body["partida"]
        word = partida["palabras"][0]
        t = min(minimo_humano_ms(word) + 100, limite_ms(0, word))
        status, headers, body = self.browser.post(
            "/api/guardar_puntaje",
            {
                "partida_id": partida["id"],
                "eventos": [{"t": t, "ok": True, "errores": 0, "teclas": [t // 3, t // 2, t]}],
            },
            headers={"X-Request-Id": rid},
        )
        self.assertIn(status, (200, 202), body)
        self.assertEqual(headers.get("X-Request-Id"), rid)

        # The save goes to juego-tcp; the first game is a record, whose notification
        # goes to juego-dist (after the reply, or from the outbox).
        expected = {
            "web": lambda e: e.get("path") == "/api/guardar_puntaje" and e.get("status") == status,
            "tcp": lambda e: e.get("action") == "save_score" and e.get("outcome") == "ok",
            "dist": lambda e: e.get("action") == "add_notification" and e.get("outcome") == "ok",
        }
        deadline = time.monotonic() + SETTLE
        while True:
            found = {
                name: [e for e in grep(self.services[name].logPath, rid) if e.get("rid") == rid]
                for name in expected
            }
            if all(any(expected[name](e) for e in found[name]) for name in expected):
                break
            if time.monotonic() > deadline:
                self.fail(f"rid {rid} not in every log: {found}\n{self.logs()}")
            time.sleep(0.1)

        # Every line of every log is one JSON event.
        for name, service in self.services.items():
            for line in Path(service.logPath).read_text(encoding="utf-8").splitlines():
                self.assertIsInstance(json.loads(line), dict, name)
