"""
Blocking clients for scripts, with the seed's API (see L{juego.clients}).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from juego import config
from juego.clients.common import (
    DEFAULT_TIMEOUT,
    FROM_ENV,
    INVALID_REPLY,
    notificationFields,
    secretFrom,
)
from juego.secret import SecretError
from juego.serialization import PickleRefused
from juego.wire import auth
from juego.wire.client import (
    MAX_REPLY,
    decodeReply,
)
from juego.wire.errors import UNAUTHORIZED, UNAVAILABLE
from juego.wire.protocol import encodeLine

# -- blocking clients for scripts ----------------------------------------------


class _Unavailable(Exception):
    pass


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _BlockingClient:
    """
    One connection, opened on first use, kept open, opened again after a failure;
    the service handshake on each new connection when there is a secret. Safe to share
    between threads (one call at a time).
    """

    service = ""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        secret: Any = FROM_ENV,
    ) -> None:
        if host is None or port is None:
            address = config.serviceAddress(self.service)
            host = address.host if host is None else host
            port = address.port if port is None else port
        self.host = host.strip("[]")
        self.port = int(port)
        self.timeout = timeout
        # The install's secret, if there is one yet; else it is looked up again when a
        # connection is made: a script started before the services (which make the
        # generated secret on first start) finds it once they are up, and an unusable
        # secret file is a failure reply then, never an exception here.
        self._findSecret = secret is FROM_ENV
        self.secret: bytes | None = None
        if self._findSecret:
            try:
                self.secret = secretFrom(FROM_ENV)
            except SecretError:
                pass
        else:
            self.secret = secretFrom(secret)
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._lock = threading.Lock()

    def __enter__(self) -> _BlockingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        sock, self._sock = getattr(self, "_sock", None), None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        if hasattr(self, "_buffer"):
            self._buffer.clear()

    def request(self, action: str, **fields: Any) -> tuple[bool, dict[str, Any]]:
        """
        Send one request: C{(True, reply)} on success, C{(False, reply)} for a failure
        reply or when the service cannot be reached (code C{unavailable}).
        """
        with self._lock:
            deadline = time.monotonic() + self.timeout
            try:
                self._ensureConnected(deadline)
                reply = self._exchange({"action": action, **fields}, deadline)
                if reply.get("format") == "pickle_base64":
                    try:
                        reply = decodeReply(reply, self.secret)
                    except (PickleRefused, ValueError) as e:
                        raise _Refused(
                            INVALID_REPLY, f"Respuesta del servicio rechazada: {e}"
                        ) from None
            except _Refused as e:
                self.close()
                return False, {"success": False, "error": e.message, "code": e.code}
            except (OSError, _Unavailable) as e:
                self.close()
                return False, {
                    "success": False,
                    "error": f"Servicio no disponible en {self.host}:{self.port}: {_socketError(e)}",
                    "code": UNAVAILABLE,
                }
        return reply.get("success") is True, reply

    # the connection

    def _ensureConnected(self, deadline: float) -> None:
        if self._sock is not None and self._stale(self._sock):
            self.close()
        if self._sock is not None:
            return
        if self.secret is None and self._findSecret:
            try:
                self.secret = secretFrom(FROM_ENV)
            except SecretError as e:
                raise _Refused(UNAUTHORIZED, f"Secreto de servicio inutilizable: {e}") from None
        sock = socket.create_connection((self.host, self.port), timeout=self._left(deadline))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buffer.clear()
        if self.secret is not None:
            self._handshake(self.secret, deadline)

    @staticmethod
    def _stale(sock: socket.socket) -> bool:
        """
        Whether our kept connection is unfit for a new request: the service closed it
        while we were not using it (idle timeout, restart), so it reads as end-of-file,
        or it holds bytes nobody asked for.
        """
        try:
            sock.setblocking(False)
            sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True

    def _handshake(self, secret: bytes, deadline: float) -> None:
        challenge = self._exchange({"action": "auth_challenge"}, deadline)
        nonce = challenge.get("nonce")
        if not challenge.get("success") or not isinstance(nonce, str):
            raise _Refused(
                UNAUTHORIZED,
                "Autenticación de servicio fallida: el servicio no tiene secreto compartido",
            )
        clientNonce = auth.newNonce()
        answer = self._exchange(
            {
                "action": "auth",
                "client_nonce": clientNonce,
                "proof": auth.clientProof(secret, nonce, clientNonce),
            },
            deadline,
        )
        if not answer.get("success"):
            raise _Refused(
                UNAUTHORIZED, f"Autenticación de servicio fallida: {answer.get('error')}"
            )
        if not auth.check(auth.serverProof(secret, nonce, clientNonce), answer.get("proof")):
            raise _Refused(
                UNAUTHORIZED,
                "Autenticación de servicio fallida: el servicio no demostró conocer el secreto",
            )

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Unavailable("tiempo de espera agotado")
        return left

    def _exchange(self, request: Mapping[str, Any], deadline: float) -> dict[str, Any]:
        sock = self._sock
        assert sock is not None
        sock.settimeout(self._left(deadline))
        sock.sendall(encodeLine(request))
        while True:
            message = self._readMessage(sock, deadline)
            if "event" in message and "success" not in message:
                continue  # a pushed event; not for us
            return message

    def _readMessage(self, sock: socket.socket, deadline: float) -> dict[str, Any]:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                try:
                    message = json.loads(line.decode("utf-8"))
                except ValueError:
                    raise _Unavailable("respuesta ilegible del servicio") from None
                if not isinstance(message, dict):
                    raise _Unavailable("respuesta ilegible del servicio")
                return message
            if len(self._buffer) > MAX_REPLY:
                raise _Unavailable("respuesta demasiado larga")
            sock.settimeout(self._left(deadline))
            chunk = sock.recv(65536)
            if not chunk:
                raise _Unavailable("el servicio cerró la conexión")
            self._buffer += chunk

    def ping(self) -> tuple[bool, dict[str, Any]]:
        return self.request("ping")


def _socketError(error: BaseException) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "tiempo de espera agotado"
    if isinstance(error, ConnectionRefusedError):
        return "conexión rechazada"
    if isinstance(error, socket.gaierror):
        return "no se encuentra el servidor"
    return str(error) or type(error).__name__


def _format(fields: dict[str, Any], format: str | None) -> dict[str, Any]:
    if format is not None and format != "json":
        fields["format"] = format
    return fields


class DistributedServiceClient(_BlockingClient):
    """
    juego-dist for scripts (the seed's API): C{DISTRIBUTED_HOST}/C{DISTRIBUTED_PORT} or
    C{host=}/C{port=}; C{secret=} defaults to the install's (C{JUEGO_SERVICE_SECRET}, else
    the secret the services generated beside the database, found from the working
    directory and C{JUEGO_DATABASE_URL} as the services find the database).
    """

    service = "dist"

    def get_user_stats(
        self, user_id: int, format: str | None = None
    ) -> tuple[bool, dict[str, Any]]:
        return self.request("get_user_stats", **_format({"user_id": user_id}, format))

    def get_global_stats(self, format: str | None = None) -> tuple[bool, dict[str, Any]]:
        return self.request("get_global_stats", **_format({}, format))

    def add_notification(
        self, user_id: int, message: str, notif_type: str = "info", format: str | None = None
    ) -> tuple[bool, dict[str, Any]]:
        fields = {"user_id": user_id, "message": message, "type": notif_type}
        return self.request("add_notification", **_format(fields, format))

    def get_notifications(
        self,
        user_id: int,
        limit: int | None = None,
        unread_only: bool = False,
        format: str | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        fields = {"user_id": user_id, **notificationFields(limit, unread_only)}
        return self.request("get_notifications", **_format(fields, format))

    def mark_notifications_read(
        self, user_id: int, ids: Iterable[int] | None = None, format: str | None = None
    ) -> tuple[bool, dict[str, Any]]:
        fields: dict[str, Any] = {"user_id": user_id}
        if ids is not None:
            fields["ids"] = list(ids)
        return self.request("mark_notifications_read", **_format(fields, format))


class ScoreClient(_BlockingClient):
    """
    juego-tcp for scripts: C{TCP_PERSIST_HOST}/C{TCP_PERSIST_PORT} or C{host=}/C{port=};
    C{secret=} defaults to the install's, as for L{DistributedServiceClient}.
    """

    service = "tcp"

    def save_score(
        self,
        user_id: int,
        puntaje: int,
        idempotency_key: str | None = None,
        format: str | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        fields: dict[str, Any] = {"user_id": user_id, "puntaje": puntaje}
        if idempotency_key is not None:
            fields["idempotency_key"] = idempotency_key
        return self.request("save_score", **_format(fields, format))
