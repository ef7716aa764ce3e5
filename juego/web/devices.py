"""
Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").

A browser that logs into an account (or signs it up) gets a device cookie for it: a
random 256-bit token in an HttpOnly, SameSite=Lax cookie (Secure under https), kept in
the database as its SHA-256, valid for a year from its last login. Logging out keeps it.

A login from a browser with a valid device cookie for the account is checked against
that device's own failures only (L{juego.web.throttle}), so strangers' failures, which
lock out every other client of the account for a while, do not lock out its owner's
browsers; and its password check goes ahead of strangers' in the hashing queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest

from juego.model import User
from juego.store.accounts import AccountsStore
from juego.web.sessions import cookieToken, newToken, setCookie, tokenHash

COOKIE = b"juego_dispositivo"
TTL = timedelta(days=365)


@attrs.frozen
class Device:
    """
    A request's valid device cookie: its token's hash, and whose account it is for.
    """

    tokenHash: str
    userID: int


class Devices:
    def __init__(self, accounts: AccountsStore, clock: IReactorTime) -> None:
        self._accounts = accounts
        self._clock = clock

    def carried(self, request: IRequest) -> bool:
        """
        Whether the request carries something shaped like a device cookie (unchecked).
        """
        return cookieToken(request, COOKIE) is not None

    async def known(self, request: IRequest, now: datetime) -> Device | None:
        """
        The request's device cookie, if it is valid (issued, and used within L{TTL}).
        """
        token = cookieToken(request, COOKIE)
        if token is None:
            return None
        hashed = tokenHash(token)
        userID = await self._accounts.deviceUser(hashed, now - TTL)
        return None if userID is None else Device(hashed, userID)

    async def remember(
        self, request: IRequest, user: User, device: Device | None, now: datetime
    ) -> None:
        """
        After a successful login or sign-up: keep using the request's device cookie if it
        is C{user}'s, else issue a new one (a browser keeps one device cookie, for the
        last account that logged in on it).
        """
        if device is not None and device.userID == user.id:
            await self._accounts.touchDevice(device.tokenHash, now)
            token = cookieToken(request, COOKIE)
        else:
            token = newToken()
            await self._accounts.addDevice(tokenHash(token), user.id, now)
        assert token is not None
        setCookie(request, COOKIE, token, int(TTL.total_seconds()))  # type: ignore[arg-type]
