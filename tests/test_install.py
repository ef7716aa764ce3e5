"""
The operator's install: C{pip install .} into a fresh virtualenv, then every service started
by name from a folder that is not the checkout, with the checkout nowhere on the path.

To stay fast and offline, the wheel is built with this environment's setuptools
(C{--no-build-isolation}), installed with C{--no-deps --no-index}, and the fresh
environment borrows this one's dependencies through a C{.pth} line (only the dependencies:
juego itself, and twistd's plugin file, come from the new install).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests.processes import CHECKOUT, freePorts, ping, waitForPort

PLUGINS = ("juego", "juego-web", "juego-tcp", "juego-dist")
#: What a source distribution of the project holds (the rest is development only).
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "juego", "twisted")


def loopback(port: int) -> str:
    return f"tcp:{port}:interface=127.0.0.1"


def health(port: int) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/api/salud")
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


class InstalledServicesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = Path(self.mktemp()).resolve()
        self.directory.mkdir(parents=True)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.addCleanup(self.stopAll)
        self.venv = self.install()

    def run_(self, *command: str | Path, **kwargs: object) -> str:
        # Without the checkout on the path: its juego.egg-info (left by the editable
        # install of make test) would make pip think juego is installed already.
        kwargs.setdefault("env", {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        result = subprocess.run(
            [str(c) for c in command], capture_output=True, text=True, timeout=300, **kwargs
        )  # type: ignore[call-overload]
        if result.returncode != 0:
            raise AssertionError(f"{command} failed:\n{result.stdout}\n{result.stderr}")
        return str(result.stdout + result.stderr)

    def install(self) -> Path:
        source = self.directory / "source"
        source.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "dropin.cache")
        for name in SOURCES:
            path = CHECKOUT / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=ignore)
            else:
                shutil.copy2(path, source / name)
        wheels = self.directory / "wheels"
        pip = [sys.executable, "-m", "pip"]
        output = self.run_(
            *pip,
            "wheel",
            "-v",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            wheels,
            source,
        )
        # setuptools finds every data folder in its packages (it warns of each one left
        # out: "Package would be ignored").
        self.assertNotIn("would be ignored", output)
        venv = self.directory / "venv"
        self.run_(sys.executable, "-m", "venv", "--without-pip", venv)
        python = venv / "bin" / "python"
        [wheel] = wheels.glob("juego-*.whl")
        self.run_(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel)
        purelib = self.run_(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).strip()
        Path(purelib, "_juego_test_dependencies.pth").write_text(
            sysconfig.get_paths()["purelib"] + "\n"
        )
        # The plugin file went where twistd looks, inside the package's own files.
        self.assertTrue(Path(purelib, "twisted", "plugins", "juego_plugins.py").is_file())
        self.assertFalse(Path(purelib, "twisted", "plugins", "__init__.py").exists())
        return venv

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUEGO_", "PYTHON"))}
        env["JUEGO_SERVICE_SECRET"] = "install-test-secret"
        return env

    def twistd(self) -> list[str]:
        # twistd's script lives with Twisted (a dependency, in this environment).
        return [str(self.venv / "bin" / "python"), str(Path(sys.executable).parent / "twistd")]

    def start(self, command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        if process.poll() is None:
            process.kill()
        out, _ = process.communicate(timeout=30)
        return out.decode("utf-8", "replace")

    def stopAll(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()

    def test_installedServicesStartByNameFromAnyFolder(self) -> None:
        env = self.environment()
        elsewhere = self.directory / "elsewhere"
        elsewhere.mkdir()
        python = self.venv / "bin" / "python"
        where = self.run_(
            python, "-c", "import juego; print(juego.__file__)", cwd=elsewhere, env=env
        )
        self.assertTrue(where.strip().startswith(str(self.venv)), where)
        listing = self.run_(*self.twistd(), "--help", cwd=elsewhere, env=env)
        for plugin in PLUGINS:
            self.assertIn(f"    {plugin} ", listing)
            self.assertTrue((self.venv / "bin" / plugin).is_file(), plugin)

        # One folder, three services: twistd's way (it writes twistd.pid there) and the
        # console scripts (no pid file), side by side.
        web, tcp, dist, allWeb, allTCP, allDist = freePorts(6)
        database = ["--database", f"sqlite:///{self.directory}/juego.db"]
        webEnv = {
            **env,
            "TCP_PERSIST_PORT": str(tcp),
            "DISTRIBUTED_PORT": str(dist),
        }
        started = [
            (
                self.start(
                    [*self.twistd(), "-n", "juego-tcp", "--listen", loopback(tcp), *database],
                    elsewhere,
                    env,
                ),
                tcp,
            ),
            (
                self.start(
                    [str(self.venv / "bin" / "juego-dist"), "--listen", loopback(dist), *database],
                    elsewhere,
                    env,
                ),
                dist,
            ),
            (
                self.start(
                    [
                        str(self.venv / "bin" / "juego-web"),
                        "--logfile",
                        "web.log",
                        "--",
                        "--listen",
                        loopback(web),
                        *database,
                    ],
                    elsewhere,
                    webEnv,
                ),
                web,
            ),
        ]
        for process, port in started:
            try:
                waitForPort(port, process, timeout=60)
            except RuntimeError as e:
                raise AssertionError(f"{e}:\n{self.output(process)}") from None
        self.assertTrue(ping(tcp))
        self.assertTrue(ping(dist))
        self.assertEqual(sorted(p.name for p in elsewhere.iterdir()), ["twistd.pid", "web.log"])

        def healthy() -> None:
            status, body = health(web)
            assert status == 200, body

        self.eventually(healthy)
        self.assertIn("Site starting on", (elsewhere / "web.log").read_text())

        # The all-in-one service, from yet another folder, by its console script.
        other = self.directory / "other"
        other.mkdir()
        everything = self.start(
            [
                str(self.venv / "bin" / "juego"),
                "--web",
                loopback(allWeb),
                "--tcp",
                loopback(allTCP),
                "--dist",
                loopback(allDist),
                "--database",
                f"sqlite:///{self.directory}/all.db",
            ],
            other,
            env,
        )
        try:
            waitForPort(allWeb, everything, timeout=60)
        except RuntimeError as e:
            raise AssertionError(f"{e}:\n{self.output(everything)}") from None

        def allHealthy() -> None:
            status, body = health(allWeb)
            assert status == 200, body

        self.eventually(allHealthy)
        self.assertEqual(list(other.iterdir()), [])
        for process, _ in [*started, (everything, 0)]:
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(30), -signal.SIGTERM, self.output(process))

    def eventually(self, check: object, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                check()  # type: ignore[operator]
                return
            except (AssertionError, OSError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
