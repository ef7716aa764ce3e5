"""
Accounts as the API sees them: signing up, in and out, who is asking, and checks of an
admin's own password. Passwords are argon2id (L{juego.web.passwords}), sessions live in
the database (L{juego.web.sessions}), failed logins are throttled (L{juego.web.throttle}).
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest

from juego.model import User
from juego.store import Store
from juego.store.users import EmailInUse, checkEmail, checkNombre, checkPassword
from juego.web.clock import utcnow
from juego.web.errors import (
    BadCredentials,
    EmailInUseError,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
)
from juego.web.passwords import Passwords
from juego.web.sessions import Sessions
from juego.web.throttle import LoginThrottle, clientAddress

_USER_KEY = "_juego_user"


class Authenticator:
    def __init__(self, store: Store, passwords: Passwords, clock: IReactorTime) -> None:
        self._store = store
        self.passwords = passwords
        self._clock = clock
        self.sessions = Sessions(store.accounts, clock)
        self.throttle = LoginThrottle(store.accounts)

    async def currentUser(self, request: IRequest) -> User | None:
        """
        The signed-in user (looked up once per request).
        """
        if not hasattr(request, _USER_KEY):
            setattr(request, _USER_KEY, await self.sessions.current(request))
        user: User | None = getattr(request, _USER_KEY)
        return user

    async def requireUser(self, request: IRequest) -> User:
        user = await self.currentUser(request)
        if user is None:
            raise NotAuthenticated()
        return user

    async def requireAdmin(self, request: IRequest) -> User:
        user = await self.requireUser(request)
        if not user.es_admin:
            raise Forbidden("Solo los administradores pueden hacer esto.")
        return user

    async def register(
        self, request: IRequest, nombre: object, email: object, password: object
    ) -> User:
        nombre, email, password = checkNombre(nombre), checkEmail(email), checkPassword(password)
        passwordHash = await self.passwords.hash(password)
        try:
            user = await self._store.users.create(
                nombre, email, passwordHash, now=utcnow(self._clock)
            )
        except EmailInUse:
            raise EmailInUseError() from None
        await self.sessions.start(request, user)
        setattr(request, _USER_KEY, user)
        return user

    async def login(self, request: IRequest, email: object, password: object) -> User:
        if not isinstance(email, str) or not isinstance(password, str):
            raise InvalidRequest("Faltan el correo electrónico o la contraseña.")
        address = clientAddress(request)
        now = utcnow(self._clock)
        await self.throttle.check(email, address, now)
        found = await self._store.users.byEmail(email)
        user, passwordHash = found if found is not None else (None, None)
        if not await self.passwords.verify(passwordHash, password) or user is None:
            await self.throttle.failed(email, address, now)
            raise BadCredentials()
        await self.throttle.succeeded(email, address)
        if passwordHash is not None and self.passwords.needsRehash(passwordHash):
            await self._store.users.setPasswordHash(user.id, await self.passwords.hash(password))
        await self.sessions.start(request, user)
        setattr(request, _USER_KEY, user)
        return user

    async def logout(self, request: IRequest) -> None:
        await self.requireUser(request)
        await self.sessions.end(request)

    async def checkOwnPassword(self, request: IRequest, user: User, password: object) -> None:
        """
        Confirm a sensitive action with the user's own password (throttled like a login).
        """
        if not isinstance(password, str) or not password:
            raise InvalidRequest("Escribe tu contraseña para confirmar.")
        address = clientAddress(request)
        now = utcnow(self._clock)
        await self.throttle.check(user.email, address, now)
        passwordHash = await self._store.users.passwordHash(user.id)
        if not await self.passwords.verify(passwordHash, password):
            await self.throttle.failed(user.email, address, now)
            raise BadCredentials("La contraseña no es correcta.")
