"""
Observability: request ids and the JSON logger (L{juego.logging}), the line services'
request log and metrics (L{juego.wire.observe}, L{juego.metrics}), and juego-web's
request tracing, C{/api/salud} and C{/metrics}.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from typing import Any

import treq
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import reactor as globalReactor
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, LogLevel, capturedLogs, formatEventAsClassicLogText
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.server import Site

from juego.clients import DistServiceClient
from juego.logging import (
    callWithRequestID,
    classicLogger,
    currentRequestID,
    formatClassicText,
    jsonLogger,
    newRequestID,
    requestIDFields,
    textLogger,
    useTextLogger,
    validRequestID,
)
from juego.metrics import Metrics
from juego.scores import GroupCommitWriter
from juego.store.pool import SynchronousReactorThreads
from juego.store.scores import SaveRequest
from juego.tap import dist as distTap
from juego.tap import tcp as tcpTap
from juego.web.health import OutboxDepth
from juego.wire import WireFactory
from juego.wire.observe import RequestLog
from tests.support import sqliteURL
from tests.test_clients import ENDPOINT, World
from tests.websupport import BASE, WebTestCase, playedEvents

PONG = {"success": True, "message": "pong"}


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


class RequestIDTests(SynchronousTestCase):
    def test_valid(self):
        for value in ["a", "A-z_0.9", "x" * 64, b"abc-123"]:
            self.assertEqual(validRequestID(value), value if isinstance(value, str) else "abc-123")
        for value in ["", "x" * 65, "con espacio", "ñ", "a/b", "a\nb", b"\xff", None, 7]:
            self.assertIsNone(validRequestID(value), value)

    def test_new(self):
        rid = newRequestID()
        self.assertEqual((len(rid), validRequestID(rid)), (32, rid))
        self.assertNotEqual(newRequestID(), rid)

    def test_context(self):
        self.assertIsNone(currentRequestID())
        self.assertEqual(requestIDFields(), {})
        seen = callWithRequestID("r1", lambda: (currentRequestID(), requestIDFields()))
        self.assertEqual(seen, ("r1", {"rid": "r1"}))
        self.assertIsNone(currentRequestID())
        # None leaves the current one alone.
        self.assertEqual(callWithRequestID("r1", callWithRequestID, None, currentRequestID), "r1")

    def test_coroutinesKeepIt(self):
        """
        A coroutine started with a request id keeps it after it waits.
        """
        waiting: Deferred[None] = Deferred()

        async def work() -> str | None:
            await waiting
            return currentRequestID()

        d = callWithRequestID("r2", lambda: Deferred.fromCoroutine(work()))
        waiting.callback(None)
        self.assertEqual(self.successResultOf(d), "r2")


class JSONLoggerTests(SynchronousTestCase):
    def events(self, path: str) -> list[dict[str, Any]]:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def emit(self, observer: Any) -> None:
        Logger(observer=observer).info("save_score ok rid={rid}", rid="abc")

    def test_toTheEnvironmentsFile(self):
        path = os.path.abspath(self.mktemp())
        self.emit(jsonLogger(environ={"JUEGO_LOG_FILE": path}, argv=["twistd", "--logfile", "x"]))
        [event] = self.events(path)
        self.assertEqual((event["rid"], event["log_format"]), ("abc", "save_score ok rid={rid}"))

    def test_toTwistdsLogfile(self):
        for form in (["--logfile", "{}"], ["--logfile={}"]):
            path = os.path.abspath(self.mktemp())
            argv = ["twistd", "-n", *[a.format(path) for a in form], "juego-tcp", "-l", "tcp:1"]
            self.emit(jsonLogger(environ={}, argv=argv))
            self.assertEqual([e["rid"] for e in self.events(path)], ["abc"])

    def test_toStandardOutput(self):
        for argv in ([], ["--logfile", "-"]):
            out = io.StringIO()
            self.patch(sys, "stdout", out)
            self.emit(jsonLogger(environ={}, argv=argv))
            [line] = out.getvalue().splitlines()
            self.assertEqual(json.loads(line)["rid"], "abc")


class LogRotationTests(SynchronousTestCase):
    """
    C{JUEGO_LOG_ROTATE_BYTES} and C{JUEGO_LOG_KEEP}: what twistd's own C{--logfile} cannot
    be told (it rotates at 1 MB and keeps every file).
    """

    def fill(self, observer: Any, lines: int) -> None:
        log = Logger(observer=observer)
        for n in range(lines):
            log.info("GET /api/ranking 200 rid={rid} {pad}", rid=f"r{n}", pad="x" * 100)

    def test_rotatesAndKeepsAsTold(self):
        for factory in (jsonLogger, textLogger):
            directory = os.path.abspath(self.mktemp())
            os.makedirs(directory)
            path = os.path.join(directory, "web.log")
            environ = {"JUEGO_LOG_ROTATE_BYTES": "2000", "JUEGO_LOG_KEEP": "3"}
            observer = factory(environ=environ, argv=["twistd", "--logfile", path])
            self.fill(observer, 200)
            names = sorted(os.listdir(directory))
            self.assertEqual(names, ["web.log", "web.log.1", "web.log.2", "web.log.3"], factory)
            for name in names:
                self.assertLessEqual(os.path.getsize(os.path.join(directory, name)), 2400)
            # The newest lines are in web.log, the last kept rotation is the oldest.
            with open(path, encoding="utf-8") as f:
                self.assertIn("rid=r199" if factory is textLogger else '"r199"', f.read())

    def test_defaultIsTwistds(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "web.log")
        observer = textLogger(environ={}, argv=["--logfile", path])
        self.fill(observer, 50)
        self.assertEqual(os.listdir(directory), ["web.log"])
        logFile = observer._outFile  # type: ignore[attr-defined]
        self.assertEqual((logFile.rotateLength, logFile.maxRotatedFiles), (1_000_000, None))

    def test_zeroNeverRotates(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "web.log")
        observer = textLogger(environ={"JUEGO_LOG_ROTATE_BYTES": "0"}, argv=["--logfile", path])
        self.fill(observer, 100)
        self.assertEqual(os.listdir(directory), ["web.log"])

    def test_badSettingsRefused(self):
        for environ in ({"JUEGO_LOG_KEEP": "0"}, {"JUEGO_LOG_ROTATE_BYTES": "1MB"}):
            with self.assertRaises(ValueError):
                jsonLogger(environ=environ, argv=["--logfile", os.path.abspath(self.mktemp())])

    def test_runbookGrepReadsRotatedFiles(self):
        """
        docs/OPERATIONS.md's grep for one request finds its lines in the current and the
        rotated (and compressed) files, oldest first.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "web.log")
        observer = textLogger(environ={"JUEGO_LOG_ROTATE_BYTES": "2000"}, argv=["--logfile", path])
        log = Logger(observer=observer)
        for n in range(60):
            log.info(
                "GET /api/yo 200 rid={rid} n={n} {pad}",
                rid="busca" if n % 7 == 0 else "otro",
                n=n,
                pad="x" * 60,
            )
        rotated = sorted(name for name in os.listdir(directory) if name != "web.log")
        self.assertGreater(len(rotated), 2)
        subprocess.run(["gzip", os.path.join(directory, rotated[-1])], check=True)

        # Rotation order by age, as ls -tr would see it after real time passed.
        def generation(name: str) -> int:
            suffix = name.removesuffix(".gz").removeprefix("web.log").lstrip(".")
            return int(suffix or 0)

        for age, name in enumerate(sorted(os.listdir(directory), key=generation, reverse=True)):
            os.utime(os.path.join(directory, name), (1_000_000 + age, 1_000_000 + age))
        command = "cd " + shlex.quote(directory) + " && zgrep -h 'rid=busca' $(ls -tr *.log*)"
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
        found = [int(m) for m in re.findall(r"n=(\d+)", out.stdout)]
        self.assertEqual(found, [n for n in range(60) if n % 7 == 0])


class ClassicTextTests(SynchronousTestCase):
    """
    L{formatClassicText} writes exactly the line Twisted's classic text observer writes.
    """

    def event(self, format: Any, **fields: Any) -> dict[str, Any]:
        event = {
            "log_format": format,
            "log_time": 1_764_500_000.75,
            "log_namespace": "juego.web.tracing.RequestTracing",
            "log_level": LogLevel.info,
        }
        event.update(fields)
        return event

    def test_sameLines(self):
        failure = Failure(ZeroDivisionError("division by zero"))
        events = [
            self.event(
                "{method} {path} {status} {duration_ms:.1f} ms rid={rid} client={client}",
                method="GET",
                path="/api/stats/global",
                status=200,
                duration_ms=1.2345,
                rid="abc",
                client=None,
            ),
            self.event("{a!r} {b!s} {c:>5} {{literal}}", a="x", b=b"y", c=7),
            self.event("no fields"),
            self.event("two\nlines {x}", x="and\nmore"),
            self.event("missing {nothere}"),
            self.event("call {f()}", f=lambda: "called"),
            self.event("attribute {x.real}", x=3),
            self.event("index {x[0]}", x=[1]),
            self.event("bad spec {x:%}", x="text"),
            self.event("{x}", x=""),
            self.event(""),
            self.event(None),
            self.event(b"bytes {x}", x=1),
            self.event("failed {x}", x=1, log_failure=failure),
            self.event("legacy {x}", x=1, log_system="-"),
            self.event("odd time {x}", x=1, log_time=None),
            {"log_format": "bare {x}", "x": 1},
            self.event("unbalanced {"),
        ]
        for event in events:
            self.assertEqual(
                formatClassicText(dict(event)), formatEventAsClassicLogText(dict(event)), event
            )

    def test_timeOncePerSecond(self):
        import juego.logging

        calls: list[float] = []
        real = juego.logging.formatTime
        self.patch(juego.logging, "formatTime", lambda when: calls.append(when) or real(when))
        clock = juego.logging._ClassicTime()
        lines = [
            formatClassicText(self.event("x", log_time=when), clock=clock)
            for when in (100.1, 100.9, 101.0, 101.5)
        ]
        self.assertEqual(calls, [100, 101])
        self.assertEqual([line[:24] for line in lines], [real(100)] * 2 + [real(101)] * 2)


class TextLoggerTests(SynchronousTestCase):
    def test_toTheLogfile(self):
        path = os.path.abspath(self.mktemp())
        Logger(observer=classicLogger({"logfile": path, "nodaemon": True})).info("hola {x}", x=1)
        with open(path, encoding="utf-8") as f:
            self.assertRegex(f.read(), r"^\S+ \[[^\]]+#info\] hola 1\n$")

    def test_toStandardOutput(self):
        for options in ({"nodaemon": True}, {"logfile": "-", "nodaemon": True}):
            out = io.StringIO()
            self.patch(sys, "stdout", out)
            Logger(observer=classicLogger(options)).info("hola")
            self.assertTrue(out.getvalue().endswith("] hola\n"))

    def test_twistdUsesIt(self):
        """
        Unless twistd was given a logger or syslog, the plugins' options make
        L{classicLogger} twistd's logger (by name: twistd imports it).
        """
        options: dict[str, Any] = {"logger": None, "syslog": 0, "logfile": "x"}
        useTextLogger(options)
        self.assertEqual(options["logger"], "juego.logging.twistdTextLogger")
        for given in ({"logger": "my.logger"}, {"logger": None, "syslog": 1}):
            options = dict(given)
            useTextLogger(options)
            self.assertEqual(options.get("logger"), given["logger"])

    def test_pluginOptions(self):
        from twisted.scripts.twistd import ServerOptions

        config = ServerOptions()
        config.parseOptions(["--nodaemon", "--logfile", "x.log", "juego-tcp"])
        self.assertEqual(config["logger"].__name__, "twistdTextLogger")
        config = ServerOptions()
        config.parseOptions(["--logger", "juego.logging.jsonLogger", "juego-tcp"])
        self.assertEqual(config["logger"].__name__, "jsonLogger")


class LineRequestLogTests(SynchronousTestCase):
    def setUp(self):
        self.metrics = Metrics()
        handlers = {"echo": lambda request: {"success": True}}
        self.factory = WireFactory(handlers, None, observer=RequestLog("tcp", self.metrics))

    def connect(self) -> tuple[Any, StringTransport]:
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.addCleanup(protocol.connectionLost, None)
        return protocol, transport

    def test_oneLinePerTracedRequestOrError(self):
        protocol, transport = self.connect()
        self.assertEqual(sample(self.metrics, "juego_connections", service="tcp", kind="line"), 1)
        with capturedLogs() as events:
            protocol.dataReceived(
                b'{"action": "echo", "rid": "r-1"}\n'
                b'{"action": "nope", "rid": "' + b"x" * 65 + b'"}\n'
                b"not json\n"
                b'{"action": "ping"}\n'
            )
        lines = [
            (e["service"], e["action"], e["outcome"], e["rid"]) for e in events if "action" in e
        ]
        self.assertEqual(
            lines,
            [
                ("tcp", "echo", "ok", "r-1"),
                ("tcp", "unknown", "unknown_action", None),  # neither name nor bad id kept
                ("tcp", "-", "invalid_json", None),
                # an untraced success (a script's ping) is counted, not logged
            ],
        )
        self.assertEqual(len(transport.value().splitlines()), 4)
        counts = {
            action: sample(self.metrics, "juego_line_requests_total", service="tcp", action=action)
            for action in ("echo", "unknown", "-", "ping")
        }
        self.assertEqual(counts, {"echo": 1, "unknown": 1, "-": 1, "ping": 1})
        errors = {
            code: sample(self.metrics, "juego_line_errors_total", service="tcp", code=code)
            for code in ("unknown_action", "invalid_json")
        }
        self.assertEqual(errors, {"unknown_action": 1, "invalid_json": 1})
        protocol.connectionLost(None)
        self.assertEqual(sample(self.metrics, "juego_connections", service="tcp", kind="line"), 0)

    def test_lineTooLong(self):
        protocol, _ = self.connect()
        protocol.dataReceived(b"x" * (protocol.MAX_LENGTH + 10))
        self.assertEqual(
            sample(self.metrics, "juego_line_errors_total", service="tcp", code="line_too_long"), 1
        )


class ClientCarriesTheRequestIDTests(SynchronousTestCase):
    """
    A Deferred client called in a request's context sends its id; the service logs it.
    """

    def test_rid(self):
        world = World(self)
        metrics = Metrics()
        world.factory.observer = RequestLog("dist", metrics)
        client = DistServiceClient(world.reactor, ENDPOINT)
        client.start()
        self.addCleanup(client.stop)
        world.complete()
        self.assertEqual(sample(metrics, "juego_connections", service="dist", kind="line"), 2)
        with capturedLogs() as events:
            d = callWithRequestID("web-rid", client.get_global_stats)
            d2 = client.get_user_stats(999)  # outside a request: no rid
            world.flush()
        self.assertTrue(self.successResultOf(d)["success"])
        self.assertEqual(self.successResultOf(d2)["code"], "not_found")
        self.assertEqual(
            [(e["action"], e["outcome"], e["rid"]) for e in events if "action" in e],
            [("get_global_stats", "ok", "web-rid"), ("get_user_stats", "not_found", None)],
        )
        self.assertEqual(
            sample(metrics, "juego_line_errors_total", service="dist", code="not_found"), 1
        )


class GroupCommitMetricsTests(SynchronousTestCase):
    def test_batchSizesAndLatency(self):
        commits: list[Deferred[list[Any]]] = []

        class Scores:
            def saveBatch(self, batch: list[SaveRequest], now: Any = None) -> Deferred[list[Any]]:
                d: Deferred[list[Any]] = Deferred()
                commits.append(d)
                return d.addCallback(lambda _: [None] * len(batch))

        metrics = Metrics()
        writer = GroupCommitWriter(Scores(), metrics=metrics)  # type: ignore[arg-type]
        saves = [writer.save(SaveRequest(1, n)) for n in range(3)]
        commits[0].callback(None)  # the first alone, then the two that waited
        commits[1].callback(None)
        for d in saves:
            self.successResultOf(d)
        self.assertEqual(sample(metrics, "juego_group_commit_batch_size_count"), 2)
        self.assertEqual(sample(metrics, "juego_group_commit_batch_size_sum"), 3)
        self.assertEqual(sample(metrics, "juego_group_commit_batch_size_bucket", le="1.0"), 1)
        self.assertEqual(sample(metrics, "juego_save_latency_seconds_count"), 3)


class _InThisThread:
    """
    A thread pool that runs work at once (with L{SynchronousReactorThreads}, the metrics
    resource answers within the request).
    """

    def callInThread(self, f: Any, *a: Any, **kw: Any) -> None:
        f(*a, **kw)


class WebObservabilityTests(WebTestCase):
    def setUp(self):
        super().setUp()
        self.metrics = Metrics(reactor=SynchronousReactorThreads(), threadpool=_InThisThread())
        self.app = self.buildApplication(metrics=self.metrics)
        self.addCleanup(self.app.close)
        self.resource = self.app.resource()
        self.scores.ping = lambda: succeed(PONG)
        self.dist.ping = lambda: succeed(PONG)

    # request ids

    def test_requestIDTakenOrMade(self):
        client = self.client()
        reply = client.get("/api/ranking", headers={"X-Request-Id": "mi-id.1"})
        self.assertEqual(reply.header("X-Request-Id"), "mi-id.1")
        for bad in ["x" * 65, "con espacios", "a;b"]:
            made = client.get("/api/ranking", headers={"X-Request-Id": bad}).header("X-Request-Id")
            self.assertNotEqual(made, bad)
            self.assertEqual(validRequestID(made), made)
        # Errors and pages get one too.
        self.assertIsNotNone(client.get("/api/no-existe").header("X-Request-Id"))
        self.assertIsNotNone(client.get("/").header("X-Request-Id"))

    def test_requestLogLine(self):
        with capturedLogs() as events:
            self.client().get("/api/ranking?limit=3", headers={"X-Request-Id": "r-log"})
        [event] = [e for e in events if e.get("rid") == "r-log"]
        self.assertEqual(
            (event["method"], event["path"], event["status"]), ("GET", "/api/ranking", 200)
        )
        self.assertGreaterEqual(event["duration_ms"], 0)
        self.assertEqual(
            sample(self.metrics, "juego_http_requests_total", method="GET", status="200"), 1
        )
        self.assertEqual(sample(self.metrics, "juego_http_request_duration_seconds_count"), 1)

    def test_callsCarryTheRequestID(self):
        seen: list[str | None] = []
        globalStats = self.dist.get_global_stats

        def spy() -> Any:
            seen.append(currentRequestID())
            return globalStats()

        self.dist.get_global_stats = spy
        self.client().get("/api/stats/global", headers={"X-Request-Id": "r-dist"})
        self.assertEqual(seen, ["r-dist"])
        self.assertIsNone(currentRequestID())

    def test_outboxKeepsTheRequestID(self):
        """
        A save queued while juego-tcp is down, and its record notification, are sent by
        the drain loop later with the id of the request that queued them.
        """
        client, _ = self.signUp()
        calls: list[tuple[str, str | None]] = []
        saveScore, addNotification = self.scores.save_score, self.dist.add_notification

        def spySave(*a: Any, **kw: Any) -> Any:
            calls.append(("save_score", currentRequestID()))
            return saveScore(*a, **kw)

        def spyNotify(*a: Any, **kw: Any) -> Any:
            calls.append(("add_notification", currentRequestID()))
            return addNotification(*a, **kw)

        self.scores.save_score = spySave
        self.dist.add_notification = spyNotify
        self.scores.down = True
        partida = self.newPartida(client)
        events = playedEvents(partida["palabras"], 3)
        self.clock.advance(10)
        reply = client.post(
            "/api/guardar_puntaje",
            {"partida_id": partida["id"], "eventos": events},
            headers={"X-Request-Id": "r-later"},
        )
        self.assertEqual(reply.status, 202)
        self.scores.down = False
        for _ in range(3):
            self.clock.advance(6)
            self.successResultOf(self.app.drainer.drain())
        self.assertEqual(
            calls,
            [("save_score", "r-later"), ("save_score", "r-later"), ("add_notification", "r-later")],
        )

    # /api/salud

    def salud(self, advance: float = 0) -> tuple[int, dict[str, Any]]:
        client = self.client()
        d = client.treq.get(BASE + "/api/salud")
        self.clock.advance(advance)
        response = client._settle(d)
        return response.code, json.loads(client._settle(response.content()))

    def test_saludAllOK(self):
        self.assertEqual(
            self.salud(), (200, {"success": True, "database": "ok", "tcp": "ok", "dist": "ok"})
        )

    def test_saludServiceDown(self):
        self.scores.ping = lambda: fail(RuntimeError("caído"))
        status, body = self.salud()
        self.assertEqual(status, 503)
        self.assertEqual(
            (body["success"], body["code"], body["database"], body["tcp"], body["dist"]),
            (False, "servicio_no_disponible", "ok", "down", "ok"),
        )

    def test_saludTimesOut(self):
        self.dist.ping = lambda: Deferred()  # never answers
        status, body = self.salud(advance=1.0)
        self.assertEqual((status, body["tcp"], body["dist"]), (503, "ok", "down"))

    def test_saludDatabaseError(self):
        self.patch(self.store.pool, "read", lambda *a, **kw: fail(RuntimeError("disco lleno")))
        status, body = self.salud()
        self.assertEqual((status, body["database"], body["tcp"]), (503, "error", "ok"))

    def test_saludDownWhileDraining(self):
        """
        Once the process is stopping (SIGTERM), the health check says so at once, even
        with everything up, so a balancer that polls it sends no more work here.
        """
        self.app.startDraining()
        status, body = self.salud()
        self.assertEqual(
            (status, body["success"], body["code"], body["deteniendo"]),
            (503, False, "servicio_no_disponible", True),
        )

    def test_saludOnlyAnswersGET(self):
        reply = self.client().post("/api/salud", {})
        self.assertNotEqual(reply.status, 200)

    # /metrics

    def test_metrics(self):
        client = self.client()
        client.get("/api/salud")
        reply = client.get("/metrics")
        self.assertEqual(reply.status, 200)
        self.assertTrue(reply.header("Content-Type").startswith("text/plain"))
        text = reply.body.decode("utf-8")
        self.assertIn('juego_http_requests_total{method="GET",status="200"} 1.0', text)
        self.assertIn('juego_connections{kind="websocket",service="web"} 0.0', text)
        self.assertIn("juego_outbox_depth 0.0", text)
        self.assertIn("process_cpu_seconds_total", text)

    def test_outboxDepth(self):
        client, _ = self.signUp()
        self.scores.down = True
        self.play(client, 1)
        self.successResultOf(OutboxDepth(self.store, self.metrics).update())
        self.assertEqual(sample(self.metrics, "juego_outbox_depth"), 1)
        self.patch(self.store.partidas, "outboxDepth", lambda: fail(RuntimeError("sin base")))
        self.successResultOf(OutboxDepth(self.store, self.metrics).update())
        self.assertEqual(sample(self.metrics, "juego_outbox_depth"), 1)  # kept


class MetricsOptionTests(SynchronousTestCase):
    def test_metricsListener(self):
        for tap in (tcpTap, distTap):
            options = tap.Options()
            options.parseOptions(
                [
                    "--listen",
                    "tcp:0:interface=127.0.0.1",
                    "--metrics",
                    "tcp:0:interface=127.0.0.1",
                    "--database",
                    sqliteURL(self),
                ]
            )
            top = tap.makeService(options)
            sites = [
                s
                for s in top
                if isinstance(s, StreamServerEndpointService) and isinstance(s.factory, Site)
            ]
            self.assertEqual(len(sites), 1, tap)
            options = tap.Options()
            options.parseOptions(["--database", sqliteURL(self)])
            self.assertFalse(
                any(isinstance(getattr(s, "factory", None), Site) for s in tap.makeService(options))
            )


class MetricsSiteTests(TestCase):
    """
    The metrics listener for real: prometheus_client's Twisted resource, on the reactor's
    thread pool.
    """

    @inlineCallbacks
    def test_scrape(self):
        metrics = Metrics()
        metrics.lineRequests.labels("tcp", "save_score").inc()
        port = globalReactor.listenTCP(0, metrics.site(), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(globalReactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        base = f"http://127.0.0.1:{port.getHost().port}"
        response = yield treq.get(base + "/metrics", pool=pool)
        body = yield response.text()
        self.assertEqual(response.code, 200)
        self.assertIn('juego_line_requests_total{action="save_score",service="tcp"} 1.0', body)
        response = yield treq.get(base + "/", pool=pool)
        yield response.content()
        self.assertEqual(response.code, 404)
