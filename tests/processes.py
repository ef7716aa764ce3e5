"""
Running the real services as processes, for integration tests and benchmarks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def freePorts(n: int) -> list[int]:
    """
    C{n} distinct free loopback ports (held open together while they are chosen).
    """
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def serviceEnvironment(
    extra: Mapping[str, str] | None = None, without: Sequence[str] = ()
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in without}
    env["PYTHONPATH"] = str(CHECKOUT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env.update(extra or {})
    return env


def ping(port: int) -> bool:
    """
    Whether a line-protocol service on C{port} answers C{ping}.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b'{"action": "ping"}\n')
            return b'"pong"' in s.recv(4096)
    except OSError:
        return False


def waitForPort(
    port: int,
    process: subprocess.Popen | None = None,
    timeout: float = 30.0,
    host: str = "127.0.0.1",
) -> None:
    """
    Poll until something accepts connections on C{host:port} (or the process died).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode} before listening")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


class ServiceProcess:
    """
    One C{twistd -n PLUGIN ...} process, started in C{cwd}; C{twistdArgs} go to twistd
    itself (before the plugin's name), e.g. C{["--logger", "juego.logging.jsonLogger"]}.
    C{prefix} runs it through another command (C{["ip", "netns", "exec", NS]}, which
    execs it: the pid stays the service's), and C{host} is where it is reached.
    """

    def __init__(
        self,
        plugin: str,
        args: Sequence[str],
        cwd: str,
        port: int,
        env: Mapping[str, str] | None = None,
        without: Sequence[str] = (),
        twistdArgs: Sequence[str] = (),
        prefix: Sequence[str] = (),
        host: str = "127.0.0.1",
    ) -> None:
        self.plugin, self.args, self.cwd, self.port = plugin, list(args), cwd, port
        self.twistdArgs = list(twistdArgs)
        self.prefix, self.host = list(prefix), host
        self.env = serviceEnvironment(env, without)
        self.process: subprocess.Popen | None = None
        self.logPath = os.path.join(cwd, f"{plugin}-{port}.log")

    def start(self) -> ServiceProcess:
        command = [
            *self.prefix,
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "--nodaemon",
            "--pidfile=",
            "--logfile",
            self.logPath,
            *self.twistdArgs,
            self.plugin,
            *self.args,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            waitForPort(self.port, self.process, host=self.host)
        except RuntimeError as e:
            # Never leave it running: it may be listening somewhere else (found when a
            # broken --config left a twistd on the default ports for the next test).
            self.stop(signal.SIGKILL, 10)
            raise RuntimeError(f"{e}; log: {self.log()[-2000:]}") from e
        return self

    def log(self) -> str:
        try:
            return Path(self.logPath).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
