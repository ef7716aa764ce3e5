"""
The configuration file (TOML): every setting an environment variable sets, with flags
beating the environment, the environment beating the file, and the file beating defaults.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from juego import config
from juego.tap import all as allTap
from juego.tap import web as webTap
from tests.processes import ServiceProcess, freePorts

EXAMPLE = """
[database]
url = "sqlite:////srv/juego/juego.db"

[web]
host = "0.0.0.0"
port = 8080
allowed_hosts = ["juego.example.org", "www.juego.example.org"]

[tcp]
endpoint = "tls:host=scores.internal:port=6000"

[redis]
url = "redis://127.0.0.1:6379/0"
"""


class ConfigFileTests(SynchronousTestCase):
    def write(self, text: str, mode: int = 0o644) -> str:
        folder = tempfile.mkdtemp()
        self.addCleanup(lambda: [os.remove(os.path.join(folder, n)) for n in os.listdir(folder)])
        path = os.path.join(folder, "juego.toml")
        Path(path).write_text(text)
        os.chmod(path, mode)
        return path

    def test_settingsStandForVariables(self) -> None:
        values = config.readConfigFile(self.write(EXAMPLE))
        self.assertEqual(
            values,
            {
                "JUEGO_DATABASE_URL": "sqlite:////srv/juego/juego.db",
                "MAIN_SERVER_HOST": "0.0.0.0",
                "MAIN_SERVER_PORT": "8080",
                "JUEGO_ALLOWED_HOSTS": "juego.example.org,www.juego.example.org",
                "TCP_PERSIST_ENDPOINT": "tls:host=scores.internal:port=6000",
                "JUEGO_REDIS_URL": "redis://127.0.0.1:6379/0",
            },
        )

    def test_precedence(self) -> None:
        """
        flag > environment > file > default.
        """
        path = self.write(EXAMPLE)
        env = {"MAIN_SERVER_PORT": "9000", config.CONFIG_FILE_VAR: path}
        config.applyConfigFile(None, env)
        # The environment beats the file ...
        self.assertEqual(config.serviceAddress("web", env), config.Address("0.0.0.0", 9000))
        # ... the file beats the default ...
        self.assertEqual(config.databaseURL(None, env), "sqlite:////srv/juego/juego.db")
        self.assertEqual(config.serviceAddress("dist", env), config.Address("127.0.0.1", 7000))
        # ... and a flag beats them all.
        self.assertEqual(config.databaseURL("sqlite:///other.db", env), "sqlite:///other.db")
        self.assertEqual(config.listenEndpoint("web", "tcp:1234", env), "tcp:1234")

    def test_noFile(self) -> None:
        env: dict[str, str] = {}
        self.assertEqual(config.applyConfigFile(None, env), {})
        self.assertEqual(env, {})

    def test_typosAreErrors(self) -> None:
        for text, message in [
            ("[web]\nprot = 1\n", "unknown setting web.prot"),
            ("[wbe]\nport = 1\n", "unknown table [wbe]"),
            ("port = 1\n", "unknown table [port]"),
            ("[web]\nport = true\n", "web.port"),
            ("[web]\nallowed_hosts = [1, 2]\n", "web.allowed_hosts"),
            ("[web\n", "not valid TOML"),
        ]:
            with self.subTest(text=text):
                error = self.assertRaises(
                    config.ConfigError, config.readConfigFile, self.write(text)
                )
                self.assertIn(message, str(error))

    def test_missingFile(self) -> None:
        error = self.assertRaises(config.ConfigError, config.readConfigFile, "/nonexistent.toml")
        self.assertIn("cannot read the configuration file", str(error))

    def test_secretNeedsAPrivateFile(self) -> None:
        text = '[services]\nsecret = "s3cr3t-s3cr3t-s3cr3t"\n'
        error = self.assertRaises(
            config.ConfigError, config.readConfigFile, self.write(text, 0o644)
        )
        self.assertIn("chmod 600", str(error))
        self.assertEqual(
            config.readConfigFile(self.write(text, 0o600)),
            {"JUEGO_SERVICE_SECRET": "s3cr3t-s3cr3t-s3cr3t"},
        )

    def test_optionsApplyTheFile(self) -> None:
        """
        C{--config} on the plugins reads the file before any setting is read; a bad file
        is a usage error naming the problem.
        """
        path = self.write("[web]\nport = 8181\n")
        saved = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(saved)))
        os.environ.pop("MAIN_SERVER_PORT", None)
        options = webTap.Options()
        options.parseOptions(["--config", path])
        self.assertEqual(config.serviceAddress("web").port, 8181)
        bad = self.write("[web]\nprot = 1\n")
        error = self.assertRaises(usage.UsageError, allTap.Options().parseOptions, ["-c", bad])
        self.assertIn("unknown setting web.prot", str(error))


class ConfigFileProcessTests(SynchronousTestCase):
    def test_twistdJuegoFromAFile(self) -> None:
        """
        C{twistd juego --config FILE}: the three services listen where the file says, on
        the database it names, with nothing in the environment.
        """
        folder = tempfile.mkdtemp()
        web, tcp, dist = freePorts(3)
        path = Path(folder, "juego.toml")
        path.write_text(
            f'[database]\nurl = "sqlite:///{folder}/desde-el-fichero.db"\n'
            f'[web]\nhost = "127.0.0.1"\nport = {web}\n'
            f'[tcp]\nhost = "127.0.0.1"\nport = {tcp}\n'
            f'[dist]\nhost = "127.0.0.1"\nport = {dist}\n'
        )
        service = ServiceProcess(
            "juego",
            ["--config", str(path)],
            folder,
            web,
            without=[v for v in config.FILE_SETTINGS.values()] + [config.CONFIG_FILE_VAR],
        ).start()
        self.addCleanup(service.stop)
        for port in (tcp, dist):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        self.assertTrue(Path(folder, "desde-el-fichero.db").exists())


class AdminConfigFileTests(SynchronousTestCase):
    def test_adminReadsTheFile(self) -> None:
        """
        C{juego-admin --config FILE db upgrade} works on the database the file names; a bad
        file is a one-line error.
        """
        import io

        from juego import admin

        folder = tempfile.mkdtemp()
        path = Path(folder, "juego.toml")
        path.write_text(f'[database]\nurl = "sqlite:///{folder}/admin.db"\n')
        saved = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(saved)))
        os.environ.pop("JUEGO_DATABASE_URL", None)
        os.environ.pop(config.CONFIG_FILE_VAR, None)
        out, err = io.StringIO(), io.StringIO()
        code = admin.main(["--config", str(path), "db", "upgrade", "--create"], out=out, err=err)
        self.assertEqual(code, 0, err.getvalue())
        self.assertIn("admin.db", out.getvalue())
        self.assertTrue(Path(folder, "admin.db").exists())
        Path(folder, "bad.toml").write_text("[database]\nulr = 1\n")
        err = io.StringIO()
        code = admin.main(["-c", str(Path(folder, "bad.toml")), "db", "upgrade"], err=err)
        self.assertEqual(code, 1)
        self.assertIn("unknown setting database.ulr", err.getvalue())
