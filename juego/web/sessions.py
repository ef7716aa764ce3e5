"""
Sessions kept in the database: a random 256-bit token in an HttpOnly, SameSite=Lax cookie
(Secure under https), stored as its SHA-256, valid for 30 days from the last use.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.server import Request

from juego.model import User
from juego.store.accounts import AccountsStore
from juego.web.clock import utcnow

COOKIE = b"juego_sesion"
TTL = timedelta(days=30)
#: A session's expiry moves forward on use at most this often (one write a day at most).
REFRESH = timedelta(days=1)
_TOKEN = re.compile(rb"^[A-Za-z0-9_-]{43}$")


def tokenHash(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()


def newToken() -> bytes:
    return secrets.token_urlsafe(32).encode("ascii")


def setCookie(request: Request, name: bytes, token: bytes, maxAge: int) -> None:
    """
    Set a token cookie: HttpOnly, SameSite=Lax, Secure under https, for the whole site.
    """
    request.addCookie(
        name,
        token,
        path=b"/",
        max_age=str(maxAge).encode("ascii"),
        httpOnly=True,
        secure=request.isSecure(),
        sameSite=b"lax",
    )


def cookieToken(request: IRequest, name: bytes) -> bytes | None:
    """
    The token in cookie C{name}, if it has a token's shape.
    """
    token = request.getCookie(name)
    if token is None or not _TOKEN.match(token):
        return None
    return token


class Sessions:
    def __init__(self, accounts: AccountsStore, clock: IReactorTime) -> None:
        self._accounts = accounts
        self._clock = clock

    def _setCookie(self, request: Request, token: bytes, maxAge: int) -> None:
        setCookie(request, COOKIE, token, maxAge)

    def _token(self, request: IRequest) -> bytes | None:
        return cookieToken(request, COOKIE)

    async def start(self, request: IRequest, user: User) -> None:
        """
        Sign C{user} in: a new session, and its cookie on the response (any session the
        request came with ends).
        """
        old = self._token(request)
        if old is not None:
            await self._accounts.deleteSession(tokenHash(old))
        token = newToken()
        now = utcnow(self._clock)
        await self._accounts.createSession(tokenHash(token), user.id, now, now + TTL)
        self._setCookie(request, token, int(TTL.total_seconds()))  # type: ignore[arg-type]

    async def current(self, request: IRequest) -> User | None:
        """
        The signed-in user, if the request has a live session (whose expiry slides).
        """
        token = self._token(request)
        if token is None:
            return None
        now = utcnow(self._clock)
        info = await self._accounts.session(tokenHash(token), now)
        if info is None:
            return None
        if info.expira - now < TTL - REFRESH:
            await self._accounts.extendSession(tokenHash(token), now + TTL)
            self._setCookie(request, token, int(TTL.total_seconds()))  # type: ignore[arg-type]
        return info.user

    async def end(self, request: IRequest) -> None:
        token = self._token(request)
        if token is not None:
            await self._accounts.deleteSession(tokenHash(token))
        self._setCookie(request, b"", 0)  # type: ignore[arg-type]
