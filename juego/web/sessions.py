"""
Sessions kept in the database: a random 256-bit token in an HttpOnly, SameSite=Lax cookie
(Secure under https), stored as its SHA-256, valid for 30 days from the last use.

Each web process keeps the sessions it has looked up in a L{SessionCache} for a few
seconds (L{juego.web.sessioncache.MAX_STALENESS}); ending a session drops it there and on
every other web node.
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
from juego.store.accounts import AccountsStore, SessionInfo
from juego.web.clock import utcnow
from juego.web.sessioncache import SessionCache

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
    """
    @ivar cache: the process's session → user cache (also what account changes drop).
    """

    def __init__(
        self, accounts: AccountsStore, clock: IReactorTime, cache: SessionCache | None = None
    ) -> None:
        self._accounts = accounts
        self._clock = clock
        self.cache = SessionCache(clock) if cache is None else cache

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
            await self.cache.drop(tokens=[tokenHash(old)])
        token = newToken()
        now = utcnow(self._clock)
        epoch = self.cache.epoch
        await self._accounts.createSession(tokenHash(token), user.id, now, now + TTL)
        self.cache.put(tokenHash(token), SessionInfo(user, now + TTL), epoch)
        self._setCookie(request, token, int(TTL.total_seconds()))  # type: ignore[arg-type]

    async def current(self, request: IRequest) -> User | None:
        """
        The signed-in user, if the request has a live session (whose expiry slides).

        From the cache when a fresh entry holds it, else from the database (and then
        cached). The expiry still moves forward once a day: the cached expiry is moved
        before the write, so that requests served from the cache meanwhile do not write
        it again.
        """
        token = self._token(request)
        if token is None:
            return None
        now = utcnow(self._clock)
        key = tokenHash(token)
        info = self.cache.get(key, now)
        if info is None:
            epoch = self.cache.epoch
            info = await self._accounts.session(key, now)
            if info is None:
                return None
            self.cache.put(key, info, epoch)
        if info.expira - now < TTL - REFRESH:
            self.cache.extended(key, now + TTL)
            await self._accounts.extendSession(key, now + TTL)
            self._setCookie(request, token, int(TTL.total_seconds()))  # type: ignore[arg-type]
        return info.user

    async def end(self, request: IRequest) -> None:
        """
        Sign out: the session is deleted, dropped from every web node's cache, and its
        cookie expired.
        """
        token = self._token(request)
        if token is not None:
            await self._accounts.deleteSession(tokenHash(token))
            await self.cache.drop(tokens=[tokenHash(token)])
        self._setCookie(request, b"", 0)  # type: ignore[arg-type]
