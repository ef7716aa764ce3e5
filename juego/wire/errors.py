"""
The line protocol's error codes (the contract, README) and the exception that carries one.
"""

from __future__ import annotations

from typing import Any

INVALID_JSON = "invalid_json"
INVALID_REQUEST = "invalid_request"
UNKNOWN_ACTION = "unknown_action"
UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found"
LINE_TOO_LONG = "line_too_long"
#: The request cannot be carried out in the state it finds (a partida closed otherwise).
CONFLICT = "conflict"
INTERNAL = "internal"
#: Client side only: the service could not be reached or did not answer in time.
UNAVAILABLE = "unavailable"


class WireError(Exception):
    """
    A request failed in a way the peer should hear about: C{code} is the machine code,
    C{message} the human text (Spanish).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def reply(self) -> dict[str, Any]:
        return errorReply(self.code, self.message)


def errorReply(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "error": message, "code": code}


def invalid(message: str) -> WireError:
    return WireError(INVALID_REQUEST, message)
