"""
Calls to juego-dist on a request's behalf: a down service is a 503, never a hang (the
client gives up within its timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import CancelledError, maybeDeferred
from twisted.logger import Logger

from juego.clients import ServiceUnavailable
from juego.web.errors import NotFoundError, ServiceUnavailableError

log = Logger()


async def callDist(method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """
    The reply of a juego-dist call, which must succeed.
    """
    try:
        reply = await maybeDeferred(method, *args, **kwargs)
    except ServiceUnavailable:
        raise ServiceUnavailableError() from None
    except CancelledError:
        # The visitor went away (Klein cancels the request's work): nothing failed.
        raise
    except Exception:
        log.failure("juego-dist call failed")
        raise ServiceUnavailableError() from None
    if not isinstance(reply, dict) or not reply.get("success"):
        if isinstance(reply, dict) and reply.get("code") == "not_found":
            raise NotFoundError()
        log.warn("juego-dist refused a call: {reply!r}", reply=reply)
        raise ServiceUnavailableError()
    return reply
