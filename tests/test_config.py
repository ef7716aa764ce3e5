"""
Settings: flags beat environment variables, which beat defaults.
"""

from __future__ import annotations

from pathlib import Path

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from juego import config
from juego.tap import checkExposure


class AddressTests(SynchronousTestCase):
    def test_defaults(self):
        self.assertEqual(config.serviceAddress("web", {}), config.Address("127.0.0.1", 5000))
        self.assertEqual(config.serviceAddress("tcp", {}), config.Address("127.0.0.1", 6000))
        self.assertEqual(config.serviceAddress("dist", {}), config.Address("127.0.0.1", 7000))

    def test_environment(self):
        env = {"TCP_PERSIST_HOST": "10.0.0.5", "TCP_PERSIST_PORT": "6100"}
        self.assertEqual(config.serviceAddress("tcp", env), config.Address("10.0.0.5", 6100))
        self.assertEqual(config.listenEndpoint("tcp", None, env), "tcp:6100:interface=10.0.0.5")
        self.assertEqual(
            config.serviceAddress("tcp", env).clientEndpoint(), "tcp:host=10.0.0.5:port=6100"
        )

    def test_clientEndpointOverride(self):
        self.assertEqual(config.clientEndpoint("dist", {}), "tcp:host=127.0.0.1:port=7000")
        tls = "tls:host=scores.internal:port=6000:trustRoots=/etc/juego/ca"
        self.assertEqual(config.clientEndpoint("tcp", {"TCP_PERSIST_ENDPOINT": tls}), tls)

    def test_flagBeatsEnvironment(self):
        env = {"DISTRIBUTED_PORT": "7100"}
        self.assertEqual(config.listenEndpoint("dist", "unix:/tmp/d.sock", env), "unix:/tmp/d.sock")

    def test_badPort(self):
        self.assertRaises(
            config.ConfigError, config.serviceAddress, "web", {"MAIN_SERVER_PORT": "x"}
        )
        self.assertRaises(
            config.ConfigError, config.serviceAddress, "web", {"MAIN_SERVER_PORT": "70000"}
        )

    def test_ipv6Loopback(self):
        description = config.listenEndpoint("tcp", None, {"TCP_PERSIST_HOST": "::1"})
        self.assertTrue(config.isLoopbackEndpoint(description))


class ExposureTests(SynchronousTestCase):
    def test_insecureOnlyOnLoopback(self):
        local = ("tcp:6000:interface=127.0.0.1", "unix:/tmp/x.sock", r"tcp6:6000:interface=\:\:1")
        public = ("tcp:6000", "tcp:6000:interface=0.0.0.0", "ssl:6000:privateKey=k.pem")
        for description in local:
            checkExposure(description, True)
            checkExposure(description, False)
        for description in public:
            self.assertRaises(UsageError, checkExposure, description, True)
            # With the handshake required (always, unless --insecure) anywhere is fine.
            checkExposure(description, False)


class DatabaseURLTests(SynchronousTestCase):
    def setUp(self):
        self.cwd = Path(self.mktemp()).resolve()
        self.cwd.mkdir()

    def test_flagAndEnvironment(self):
        env = {"JUEGO_DATABASE_URL": "postgresql://x/y"}
        self.assertEqual(config.databaseURL("sqlite:///a.db", env, self.cwd), "sqlite:///a.db")
        self.assertEqual(config.databaseURL(None, env, self.cwd), "postgresql://x/y")

    def test_newInstanceDatabase(self):
        url = config.databaseURL(None, {}, self.cwd, create=False)
        self.assertFalse((self.cwd / "instance").exists())
        self.assertEqual(config.databaseURL(None, {}, self.cwd), url)
        self.assertEqual(url, f"sqlite:///{self.cwd}/instance/usuarios.db")
        self.assertTrue((self.cwd / "instance").is_dir())

    def test_legacyRootDatabase(self):
        (self.cwd / "usuarios.db").write_bytes(b"")
        self.assertEqual(
            config.databaseURL(None, {}, self.cwd), f"sqlite:///{self.cwd}/usuarios.db"
        )

    def test_instancePreferred(self):
        (self.cwd / "usuarios.db").write_bytes(b"")
        (self.cwd / "instance").mkdir()
        (self.cwd / "instance" / "usuarios.db").write_bytes(b"")
        self.assertEqual(
            config.databaseURL(None, {}, self.cwd), f"sqlite:///{self.cwd}/instance/usuarios.db"
        )


class HashingAndRateLimitTests(SynchronousTestCase):
    def test_hashing(self):
        from juego.config import ConfigError, hashing

        self.assertEqual(hashing({}), (None, None))
        self.assertEqual(hashing({"JUEGO_HASH_THREADS": "3", "JUEGO_HASH_QUEUE": "0"}), (3, 0))
        for bad in [
            {"JUEGO_HASH_THREADS": "0"},
            {"JUEGO_HASH_QUEUE": "-1"},
            {"JUEGO_HASH_QUEUE": "x"},
        ]:
            self.assertRaises(ConfigError, hashing, bad)

    def test_rateLimits(self):
        from juego.config import ConfigError, rateLimits

        self.assertEqual(rateLimits({}), 1.0)
        self.assertEqual(rateLimits({"JUEGO_RATE_LIMITS": "off"}), 0.0)
        self.assertEqual(rateLimits({"JUEGO_RATE_LIMITS": "2.5"}), 2.5)
        for bad in ["-1", "nan", "mucho"]:
            self.assertRaises(ConfigError, rateLimits, {"JUEGO_RATE_LIMITS": bad})
