"""
C{twistd juego-web} and C{twistd juego}: options, endpoints, and a web service started
for real (juego-tcp and juego-dist down).
"""

from __future__ import annotations

import os
import sys

import treq
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.python import usage
from twisted.scripts import twistd
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool

from juego.clients import ServiceClient
from juego.secret import serviceSecret
from juego.tap import all as allTap
from juego.tap import web as webTap
from juego.wire import WireFactory
from tests.support import sqliteURL


class OptionsTests(SynchronousTestCase):
    def test_web(self):
        options = webTap.Options()
        options.parseOptions(["--listen", "tcp:5999", "--database", "sqlite:///x.db"])
        self.assertEqual((options["listen"], options["database"]), ("tcp:5999", "sqlite:///x.db"))

    def test_all(self):
        options = allTap.Options()
        options.parseOptions(
            ["--web", "tcp:1", "--tcp", "tcp:2", "--dist", "tcp:3", "-d", "sqlite://"]
        )
        self.assertEqual(
            (options["web"], options["tcp"], options["dist"], options["database"]),
            ("tcp:1", "tcp:2", "tcp:3", "sqlite://"),
        )

    def test_clientEndpointFor(self):
        cases = {
            "tcp:6000:interface=127.0.0.1": "tcp:host=127.0.0.1:port=6000",
            "tcp:port=6001": "tcp:host=127.0.0.1:port=6001",
            "tcp:6002:interface=0.0.0.0": "tcp:host=127.0.0.1:port=6002",
            r"tcp6:6003:interface=\:\:1": r"tcp:host=\:\:1:port=6003",
            r"tcp6:6004:interface=\:\:": r"tcp:host=\:\:1:port=6004",
            "unix:/tmp/juego.sock": "unix:path=/tmp/juego.sock",
            "unix:address=/tmp/j.sock:mode=600": "unix:path=/tmp/j.sock",
            "ssl:6443:privateKey=k.pem:interface=127.0.0.1": "ssl:host=127.0.0.1:port=6443",
        }
        for server, client in cases.items():
            self.assertEqual(allTap.clientEndpointFor(server), client, server)
        self.assertRaises(usage.UsageError, allTap.clientEndpointFor, "systemd:domain=INET:index=0")

    def withoutSecret(self):
        self.patch(
            os, "environ", {k: v for k, v in os.environ.items() if k != "JUEGO_SERVICE_SECRET"}
        )

    def lineFactories(self, top):
        return [
            s.factory
            for s in top
            if isinstance(s, StreamServerEndpointService) and isinstance(s.factory, WireFactory)
        ]

    def test_allRefusesInsecureBeyondLoopback(self):
        self.withoutSecret()
        for flag in ("--tcp", "--dist"):
            options = allTap.Options()
            options.parseOptions(
                [flag, "tcp:6000:interface=0.0.0.0", "--insecure", "-d", sqliteURL(self)]
            )
            self.assertRaises(usage.UsageError, allTap.makeService, options)

    def test_allRequiresTheHandshakeByDefault(self):
        """
        Without a secret or --insecure, juego-tcp and juego-dist (even in one process with
        the web site) demand the install's generated secret, and the web's clients have it.
        """
        self.withoutSecret()
        url = sqliteURL(self)
        options = allTap.Options()
        options.parseOptions(["--tcp", "tcp:0:interface=0.0.0.0", "-d", url])
        top = allTap.makeService(options)
        generated = serviceSecret(url, create=False)
        self.assertIsNotNone(generated)
        factories = self.lineFactories(top)
        self.assertEqual([f.secret for f in factories], [generated, generated])
        # juego-tcp's client of juego-dist, then juego-web's two.
        self.assertEqual(
            [s.secret for s in self.webClients(top)], [generated, generated, generated]
        )
        # --insecure: open services (loopback only) and clients that skip the handshake.
        options = allTap.Options()
        options.parseOptions(["--insecure", "-d", url])
        top = allTap.makeService(options)
        self.assertEqual([f.secret for f in self.lineFactories(top)], [None, None])
        self.assertEqual([s.secret for s in self.webClients(top)], [None, None, None])

    def webClients(self, top):
        return [
            s._onStart.__self__
            for s in top
            if getattr(getattr(s, "_onStart", None), "__self__", None) is not None
            and isinstance(s._onStart.__self__, ServiceClient)
        ]

    def test_webMayListenAnywhere(self):
        self.patch(
            os, "environ", {k: v for k, v in os.environ.items() if k != "JUEGO_SERVICE_SECRET"}
        )
        options = webTap.Options()
        options.parseOptions(["--listen", "tcp:0:interface=0.0.0.0", "-d", sqliteURL(self)])
        service = webTap.makeService(options)
        # the store, 7 callback services (the hashing pool's one of them, the races' one),
        # 3 timers (drain, housekeeping, outbox gauge), the listener
        self.assertEqual(len(list(service)), 12)

    def test_allBuilds(self):
        options = allTap.Options()
        options.parseOptions(
            [
                "--web",
                "tcp:0:interface=127.0.0.1",
                "--tcp",
                "tcp:0:interface=127.0.0.1",
                "--dist",
                "tcp:0:interface=127.0.0.1",
                "-d",
                sqliteURL(self),
            ]
        )
        service = allTap.makeService(options)
        self.assertGreater(len(list(service)), 9)


class RunningWebTests(TestCase):
    """
    The web service on a real port, with the other two services down.
    """

    timeout = 30

    async def _serve(self):
        options = webTap.Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1", "-d", sqliteURL(self)])
        environ = dict(os.environ)
        environ.update(TCP_PERSIST_PORT="1", DISTRIBUTED_PORT="1")
        self.patch(os, "environ", environ)
        service = webTap.makeService(options)
        service.startService()
        pool = HTTPConnectionPool(reactor, persistent=False)

        def get(url):
            return treq.get(url, pool=pool)

        try:
            listener = list(service)[-1]
            port = listener.port.getHost().port
            base = f"http://127.0.0.1:{port}"
            response = await get(base + "/api/ranking")
            self.assertEqual(response.code, 200)
            self.assertEqual(await response.json(), {"success": True, "ranking": []})
            response = await get(base + "/api/stats/global")
            self.assertEqual(response.code, 503)
            self.assertEqual((await response.json())["code"], "servicio_no_disponible")
            response = await get(base + "/static/app.css")
            self.assertEqual(response.code, 200)
            await response.content()
            page = await get(base + "/")
            self.assertIn(
                "Content-Security-Policy", [k.decode() for k, _ in page.headers.getAllRawHeaders()]
            )
            await page.content()
        finally:
            await pool.closeCachedConnections()
            await service.stopService()

    def test_servesAndStops(self):
        return ensureDeferred(self._serve())


class ConsoleScriptTests(SynchronousTestCase):
    """
    C{juego-web ARGS} is twistd in the foreground, without a pid file, running the
    plugin; twistd's own options go before a C{--}.
    """

    def test_arguments(self):
        from juego.tap.run import twistdArguments

        self.assertEqual(
            twistdArguments("juego-web", ["--listen", "tcp:5000"]),
            ["--nodaemon", "--pidfile=", "juego-web", "--listen", "tcp:5000"],
        )
        self.assertEqual(
            twistdArguments("juego-tcp", ["--logfile", "t.log", "--", "-l", "tcp:6000"]),
            ["--nodaemon", "--pidfile=", "--logfile", "t.log", "juego-tcp", "-l", "tcp:6000"],
        )
        self.assertEqual(twistdArguments("juego", []), ["--nodaemon", "--pidfile=", "juego"])

    def test_runsTwistdWithThem(self):
        from juego.tap import run

        seen = []
        self.patch(sys, "argv", ["juego-dist", "--listen", "tcp:7001"])
        self.patch(twistd, "run", lambda: seen.append(list(sys.argv)))
        run.dist()
        self.assertEqual(
            seen, [["juego-dist", "--nodaemon", "--pidfile=", "juego-dist", "--listen", "tcp:7001"]]
        )
