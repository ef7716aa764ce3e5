"""
What both families of clients share: the errors, the timeouts and the backoff (the one of
every link, L{juego.reconnect.backoffDelay}).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from juego.secret import serviceSecret
from juego.wire.errors import UNAVAILABLE

#: Seconds a call waits for its reply (and a connection attempt for its connection).
DEFAULT_TIMEOUT = 3.0
#: Client-side code for a reply we refused to load.
INVALID_REPLY = "invalid_reply"

#: The default of a client's C{secret}: the install's (L{juego.secret.serviceSecret}:
#: C{JUEGO_SERVICE_SECRET}, else the generated secret beside the database, never made here).
FROM_ENV: Any = object()


class ServiceUnavailable(Exception):
    """
    The service could not be used: it is down, did not answer in time, or the service
    handshake failed. C{message} is Spanish, fit to show.
    """

    code = UNAVAILABLE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReplyRefused(ServiceUnavailable):
    """
    The service's reply carried a pickle we will not load (unsigned while we have the
    secret, badly signed, or naming a forbidden global).
    """

    code = INVALID_REPLY


def secretFrom(secret: Any, environ: Mapping[str, str] | None = None) -> bytes | None:
    """
    A client's secret: the one given (L{None} or empty: no handshake), or with
    L{FROM_ENV} the install's, looked up but never created (a client does not make the
    secret its services have not made).

    @raise juego.secret.SecretError: the install's secret file is unsafe.
    """
    if secret is FROM_ENV:
        return serviceSecret(environ=environ, create=False)
    if isinstance(secret, str):
        return secret.encode("utf-8") or None
    return secret or None


def describeFailure(failure: Failure) -> str:
    value = failure.value
    if isinstance(value, defer.TimeoutError | defer.CancelledError):
        return "tiempo de espera agotado"
    return str(value) or type(value).__name__


def notificationFields(limit: int | None, unread_only: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if limit is not None:
        fields["limit"] = limit
    if unread_only:
        fields["unread_only"] = True
    return fields
