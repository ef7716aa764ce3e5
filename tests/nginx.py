"""
nginx for the multi-node tests: find it (and its stream module), render a loopback config
like C{deploy/nginx.conf} with a test's ports, and run it in the foreground with its own
prefix, pid and log paths in a temporary directory (nothing under C{/etc} or C{/var}, so it
runs as any user). Plus a tiny RFC 6455 client: enough to open a WebSocket with a cookie
and read the text messages pushed on it.

Tests that need nginx skip when it is missing, unless C{JUEGO_REQUIRE_NGINX} is set (CI),
where that is a failure. On Debian: C{apt-get install nginx libnginx-mod-stream}.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from twisted.trial.unittest import SkipTest

from tests.processes import waitForPort

#: Where Debian (and most distributions) put the dynamic stream module.
STREAM_MODULE_DIRS = (
    "/usr/lib/nginx/modules",
    "/usr/lib64/nginx/modules",
    "/usr/share/nginx/modules",
)
STREAM_MODULE = "ngx_stream_module.so"

#: The loopback twin of deploy/nginx.conf: the same proxying, with the test's ports and
#: every path inside the run's directory. C{@NAME@} marks a value filled in by L{render}.
TEST_TEMPLATE = """\
@LOAD_STREAM@
worker_processes 1;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;

events {
    worker_connections 1024;
}

http {
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/tmp/body;
    proxy_temp_path @DIR@/tmp/proxy;
    fastcgi_temp_path @DIR@/tmp/fastcgi;
    uwsgi_temp_path @DIR@/tmp/uwsgi;
    scgi_temp_path @DIR@/tmp/scgi;
    client_max_body_size 256k;

    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      '';
    }

    upstream juego_web {
@WEB_SERVERS@
        keepalive 32;
        keepalive_timeout 4s;
    }

    server {
        listen 127.0.0.1:@HTTP_PORT@ default_server;
        return 444;
    }

    server {
        listen 127.0.0.1:@HTTP_PORT@;
        server_name 127.0.0.1;

        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Connection "";
        proxy_connect_timeout 2s;
        proxy_next_upstream error timeout;
        proxy_next_upstream_tries 2;
        proxy_read_timeout 30s;

        location = /api/notificaciones/ws {
            proxy_pass http://juego_web;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }

        location ^~ /metrics {
            return 404;
        }

        location / {
            proxy_pass http://juego_web;
        }
    }
}

stream {
    log_format sessions '$remote_addr $upstream_addr $upstream_bytes_sent $upstream_bytes_received $session_time';
    access_log @DIR@/stream.log sessions;

    upstream juego_tcp {
@TCP_SERVERS@
    }

    server {
        listen 127.0.0.1:@STREAM_PORT@;
        proxy_pass juego_tcp;
        proxy_connect_timeout 2s;
        proxy_next_upstream on;
        proxy_next_upstream_tries 2;
        proxy_timeout 10m;
        proxy_socket_keepalive on;
    }
}
"""


class NginxUnavailable(Exception):
    """
    nginx, or its stream module, is not installed.
    """


def nginxRequired() -> bool:
    return bool(os.environ.get("JUEGO_REQUIRE_NGINX"))


def unavailable(reason: str) -> None:
    """
    Skip the test, or fail it when nginx is required (CI).
    """
    if nginxRequired():
        raise AssertionError(f"nginx is required (JUEGO_REQUIRE_NGINX) but {reason}")
    raise SkipTest(reason)


def findNginx() -> str | None:
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def buildOptions(binary: str) -> str:
    """
    What C{nginx -V} says it was built with (it says it on stderr).
    """
    result = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    return result.stderr + result.stdout


def streamModuleLine(binary: str) -> str:
    """
    The C{load_module} line that gives this nginx its stream module (empty when the module
    is built in); L{NginxUnavailable} when there is none.
    """
    options = buildOptions(binary).split()
    if "--with-stream" in options:
        return ""
    if "--with-stream=dynamic" not in options:
        raise NginxUnavailable(f"{binary} was built without the stream module")
    dirs = [o.partition("=")[2] for o in options if o.startswith("--modules-path=")]
    for directory in [*dirs, *STREAM_MODULE_DIRS]:
        path = os.path.join(directory, STREAM_MODULE)
        if os.path.exists(path):
            return f"load_module {path};"
    raise NginxUnavailable(
        f"{binary} has the stream module only as a dynamic module, and {STREAM_MODULE} is "
        "not installed (Debian: apt-get install libnginx-mod-stream)"
    )


def requireNginx() -> tuple[str, str]:
    """
    The nginx binary and its stream module's C{load_module} line, or skip (fail in CI).
    """
    binary = findNginx()
    if binary is None:
        unavailable("nginx is not installed (Debian: apt-get install nginx libnginx-mod-stream)")
        raise AssertionError("unreachable")
    try:
        return binary, streamModuleLine(binary)
    except NginxUnavailable as e:
        unavailable(str(e))
        raise AssertionError("unreachable") from None


def render(template: str, values: Mapping[str, object]) -> str:
    """
    Fill each C{@NAME@} in C{template}; every one must have a value.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for @{name}@")
        return str(values[name])

    return re.sub(r"@([A-Z_]+)@", fill, template)


def serverLines(ports: Sequence[int], options: str = "max_fails=2 fail_timeout=10s") -> str:
    return "\n".join(f"        server 127.0.0.1:{port} {options};" for port in ports)


class Nginx:
    """
    nginx in the foreground (C{nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'}), balancing
    C{webPorts} on C{httpPort} and C{tcpPorts} on C{streamPort}, all on 127.0.0.1.
    """

    def __init__(
        self,
        binary: str,
        loadStream: str,
        directory: Path,
        httpPort: int,
        streamPort: int,
        webPorts: Sequence[int],
        tcpPorts: Sequence[int],
        template: str = TEST_TEMPLATE,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.httpPort, self.streamPort = httpPort, streamPort
        self.config = directory / "nginx.conf"
        self.text = render(
            template,
            {
                "LOAD_STREAM": loadStream,
                "DIR": directory,
                "HTTP_PORT": httpPort,
                "STREAM_PORT": streamPort,
                "WEB_SERVERS": serverLines(webPorts),
                "TCP_SERVERS": serverLines(tcpPorts),
            },
        )
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *extra: str) -> list[str]:
        # -e: the error log before the configuration is read (the compiled-in default,
        # under /var/log, is not writable for everyone).
        return [
            self.binary,
            "-p",
            f"{self.directory}/",
            "-e",
            str(self.directory / "error.log"),
            "-c",
            str(self.config),
            *extra,
        ]

    def check(self) -> None:
        """
        C{nginx -t}: the configuration is valid (raises with nginx's words otherwise).
        """
        result = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise AssertionError(f"nginx -t failed:\n{result.stderr}\n--- config ---\n{self.text}")

    def start(self, timeout: float = 15.0) -> Nginx:
        (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
        self.config.write_text(self.text)
        self.check()
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            waitForPort(self.httpPort, self.process, timeout)
            waitForPort(self.streamPort, self.process, timeout)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError(f"nginx did not start: {e}\n{self.errorLog()}") from e
        return self

    def errorLog(self) -> str:
        try:
            return (self.directory / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def streamLog(self) -> str:
        """
        One line per finished stream session: client, upstream, bytes sent to and
        received from the upstream, seconds.
        """
        try:
            return (self.directory / "stream.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        # SIGTERM: nginx's fast shutdown (SIGQUIT would wait for open WebSockets).
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


# -- a minimal WebSocket client (RFC 6455) -------------------------------------------

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


class WebSocketClosed(Exception):
    """
    The server closed the socket (C{code}, if it said one).
    """

    def __init__(self, code: int | None) -> None:
        super().__init__(f"the WebSocket was closed (code {code})")
        self.code = code


class WebSocketRejected(Exception):
    """
    The server answered the upgrade with something other than 101.
    """

    def __init__(self, status: int, head: bytes) -> None:
        super().__init__(f"the WebSocket upgrade was answered {status}: {head[:300]!r}")
        self.status = status


class WebSocket:
    """
    A client WebSocket over a plain socket: the opening handshake, then text messages in
    (pings are answered, fragments joined) and masked frames out.
    """

    def __init__(self, sock: socket.socket, buffered: bytes) -> None:
        self.sock = sock
        self._buffer = bytearray(buffered)

    @classmethod
    def connect(
        cls,
        port: int,
        path: str,
        headers: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        timeout: float = 10.0,
    ) -> WebSocket:
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            key = base64.b64encode(secrets.token_bytes(16))
            lines = [
                f"GET {path} HTTP/1.1",
                f"Host: {host}:{port}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key.decode('ascii')}",
                "Sec-WebSocket-Version: 13",
                *(f"{name}: {value}" for name, value in (headers or {}).items()),
            ]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise WebSocketRejected(0, head)
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            statusLine, *headerLines = head.split(b"\r\n")
            status = int(statusLine.split()[1])
            if status != 101:
                raise WebSocketRejected(status, head)
            answer = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(b":") for line in headerLines)
            }
            expected = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            if answer.get(b"sec-websocket-accept") != expected:
                raise WebSocketRejected(status, head)
            return cls(sock, rest)
        except BaseException:
            sock.close()
            raise

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self._buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no WebSocket message in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError("no WebSocket message in time") from None
            if not chunk:
                raise WebSocketClosed(None)
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _frame(self, deadline: float) -> tuple[bool, int, bytes]:
        first, second = self._read(2, deadline)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2, deadline))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8, deadline))
        mask = self._read(4, deadline) if second & 0x80 else None
        payload = self._read(length, deadline)
        if mask is not None:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    def send(self, opcode: int, payload: bytes = b"") -> None:
        """
        Send one frame, masked as a client must.
        """
        mask = secrets.token_bytes(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receiveText(self, timeout: float = 10.0) -> str:
        """
        The next text message (pings are answered on the way).
        """
        deadline = time.monotonic() + timeout
        parts: list[bytes] = []
        while True:
            fin, opcode, payload = self._frame(deadline)
            if opcode == OP_PING:
                self.send(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise WebSocketClosed(code)
            elif opcode in (OP_TEXT, 0x0):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode("utf-8")

    def close(self) -> None:
        try:
            self.send(OP_CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()
