"""
The production nginx example (C{deploy/nginx.conf}) as an operator would use it: the file
itself, with only its machine-specific parts (addresses, ports, certificate, log and pid
paths) replaced for this machine, passes C{nginx -t} and behaves as docs/OPERATIONS.md
says: the http->https redirect keeps the site's https port, every proxied request carries an
C{X-Request-Id} that nginx also logs, C{/metrics} is 404 at the balancer without reaching a
web node, and an unknown name is dropped.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.nginx import requireNginx
from tests.processes import CHECKOUT, freePorts, waitForPort
from tests.support import selfSigned

EXAMPLE = CHECKOUT / "deploy" / "nginx.conf"
SITE = "juego.example.org"


class Upstream:
    """
    A stand-in web node that answers 200 to everything and keeps each request's headers.
    """

    def __init__(self) -> None:
        seen: list[dict[str, str]] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({k.lower(): v for k, v in self.headers.items()} | {":path": self.path})
                body = b'{"success": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def localise(text: str, values: dict[str, Any]) -> str:
    """
    The example with this machine's addresses, ports and paths; everything else as shipped.
    """
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("listen [::]") or stripped.startswith("user "):
            continue  # no IPv6 needed here; workers run as the test's user
        lines.append(line)
    text = "\n".join(lines) + "\n"
    replacements = [
        (r"load_module \S+;", values["load"]),
        (r"pid \S+;", f"pid {values['dir']}/nginx.pid;"),
        (r"error_log \S+;", f"error_log {values['dir']}/error.log;"),
        (r"access_log /var/log/nginx/access.log", f"access_log {values['dir']}/access.log"),
        (r"ssl_certificate\s+\S+;", f"ssl_certificate {values['cert']};"),
        (r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {values['key']};"),
        (r"listen 80\b", f"listen 127.0.0.1:{values['http']}"),
        (r"listen 443\b", f"listen 127.0.0.1:{values['https']}"),
        (rf"https://{re.escape(SITE)}:443", f"https://{SITE}:{values['https']}"),
        (r"10\.0\.0\.1[12]:5000", f"127.0.0.1:{values['web']}"),
        (r"10\.0\.0\.2[12]:6000", f"127.0.0.1:{values['tcp']}"),
        (r"listen 10\.0\.0\.10:6000", f"listen 127.0.0.1:{values['stream']}"),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        if count == 0:
            raise AssertionError(f"the example no longer has {pattern!r}: update this test")
    return text


class NginxExampleTests(SynchronousTestCase):
    def setUp(self) -> None:
        binary, load = requireNginx()
        self.directory = Path(tempfile.mkdtemp(prefix="juego-nginx-"))
        key, cert = selfSigned(str(self.directory), SITE)
        self.upstream = Upstream()
        self.addCleanup(self.upstream.stop)
        http, https, tcp, stream = freePorts(4)
        self.http, self.https = http, https
        config = self.directory / "nginx.conf"
        config.write_text(
            localise(
                EXAMPLE.read_text(),
                {
                    "load": load,
                    "dir": self.directory,
                    "cert": cert,
                    "key": key,
                    "http": http,
                    "https": https,
                    "web": self.upstream.port,
                    "tcp": tcp,
                    "stream": stream,
                },
            )
        )
        command = [binary, "-p", f"{self.directory}/", "-e", str(self.directory / "error.log")]
        command += ["-c", str(config)]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.nginx = subprocess.Popen(
            [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.addCleanup(self.stopNginx)
        waitForPort(https, self.nginx)

    def stopNginx(self) -> None:
        self.nginx.terminate()
        try:
            self.nginx.wait(10)
        except subprocess.TimeoutExpired:
            self.nginx.kill()
            self.nginx.wait()

    def request(self, port: int, path: str, host: str = SITE, tls: bool = False) -> bytes:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock: socket.socket = raw
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(raw, server_hostname=host)
        with sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def test_redirectKeepsThePort(self) -> None:
        reply = self.request(self.http, "/ranking?limit=5")
        self.assertTrue(reply.startswith(b"HTTP/1.1 301"), reply[:200])
        self.assertIn(f"Location: https://{SITE}:{self.https}/ranking?limit=5".encode(), reply)

    def test_requestIdSetAndLogged(self) -> None:
        reply = self.request(self.https, "/api/salud", tls=True)
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply[:300])
        [seen] = self.upstream.seen
        rid = seen.get("x-request-id", "")
        self.assertRegex(rid, r"^[0-9a-f]{32}$")
        self.assertEqual(seen["host"], SITE)
        self.assertEqual(seen["x-forwarded-proto"], "https")
        # nginx writes the access line when the request ends: poll briefly for it.
        log = self.directory / "access.log"
        for _ in range(100):
            if f"rid={rid}" in log.read_text():
                break
            threading.Event().wait(0.02)
        self.assertIn(f"rid={rid}", log.read_text())

    def test_metricsClosed(self) -> None:
        reply = self.request(self.https, "/metrics", tls=True)
        self.assertTrue(reply.startswith(b"HTTP/1.1 404"), reply[:200])
        self.assertEqual(self.upstream.seen, [])

    def test_unknownNameDropped(self) -> None:
        self.assertEqual(self.request(self.http, "/", host="evil.example"), b"")
        self.assertEqual(self.upstream.seen, [])
