"""
Helpers for tests that talk to a real Redis (C{JUEGO_TEST_REDIS_URL}, default the local
server): each test gets its own key and channel prefix, and its keys are deleted after
it. The tests are skipped when no Redis answers, except when C{JUEGO_REQUIRE_REDIS} is set
(CI), where they fail instead.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase

from juego.cache.link import RedisSettings

REDIS_URL = os.environ.get("JUEGO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redisRequired() -> bool:
    return bool(os.environ.get("JUEGO_REQUIRE_REDIS"))


class BlockingRedis:
    """
    A minimal blocking RESP client, for setting up and inspecting Redis in tests.
    """

    def __init__(self, settings: RedisSettings, timeout: float = 2.0) -> None:
        if settings.path is not None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(settings.path)
        else:
            self.sock = socket.create_connection((settings.host, settings.port), timeout)
        self.file = self.sock.makefile("rb")
        if settings.password:
            if settings.username:
                self.command("AUTH", settings.username, settings.password)
            else:
                self.command("AUTH", settings.password)
        if settings.db:
            self.command("SELECT", settings.db)

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def command(self, *args: Any) -> Any:
        parts = [str(a).encode() if not isinstance(a, bytes) else a for a in args]
        out = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self.sock.sendall(out)
        return self._reply()

    def _reply(self) -> Any:
        line = self.file.readline()
        if not line:
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        cursor = "0"
        while True:
            cursor, batch = self.command(
                "SCAN", cursor, "MATCH", _escape(prefix) + "*", "COUNT", 1000
            )
            found += batch
            if cursor == "0":
                return found

    def deletePrefix(self, prefix: str) -> None:
        for key in self.keys(prefix):
            self.command("DEL", key)


def _escape(prefix: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix)


def redisSettings(case: TestCase) -> tuple[RedisSettings, BlockingRedis]:
    """
    Settings for the test Redis with a prefix of this test's own, and a blocking client
    on it; the prefix's keys are deleted when the test ends.
    """
    settings = attrs.evolve(
        RedisSettings.fromURL(REDIS_URL), prefix=f"juego-test-{secrets.token_hex(6)}:"
    )
    try:
        client = BlockingRedis(settings)
        client.command("PING")
    except Exception as e:
        if redisRequired():
            raise AssertionError(f"Redis is required (CI) but failed: {e}") from e
        raise SkipTest(f"no Redis server: {e}") from e

    def clean() -> None:
        client.deletePrefix(settings.prefix)
        client.close()

    case.addCleanup(clean)
    return settings, client


async def waitFor(reactor: Any, condition: Any, timeout: float = 5.0, step: float = 0.01) -> None:
    """
    Wait (polling) until C{condition()} is true; fail after C{timeout} seconds.
    """
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await sleep(reactor, step)
        waited += step


def sleep(reactor: Any, seconds: float) -> Deferred[None]:
    return deferLater(reactor, seconds, lambda: None)
