"""
Accounts as the API sees them: signing up, in and out, who is asking, and checks of an
admin's own password. Passwords are argon2id on their own bounded threads
(L{juego.web.passwords}), sessions live in the database (L{juego.web.sessions}) with a
short cache in front (L{juego.web.sessioncache}), password
checks are reserved against the throttle before they run (L{juego.web.throttle}), and
browsers that have logged in before carry a device cookie (L{juego.web.devices}).
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from juego.model import User
from juego.store import Store
from juego.store.users import EmailInUse, checkEmail, checkNombre, checkPasswordShape
from juego.web.clock import utcnow
from juego.web.devices import Device, Devices
from juego.web.errors import (
    BadCredentials,
    EmailInUseError,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    TooManyAttempts,
    TooManyRequests,
)
from juego.web.passwords import Passwords, Ticket
from juego.web.sessioncache import SessionCache
from juego.web.sessions import Sessions
from juego.web.throttle import LoginThrottle, clientAddress

log = Logger()

_USER_KEY = "_juego_user"


class Authenticator:
    def __init__(
        self,
        store: Store,
        passwords: Passwords,
        clock: IReactorTime,
        sessionCache: SessionCache | None = None,
    ) -> None:
        self._store = store
        self.passwords = passwords
        self._clock = clock
        self.sessions = Sessions(store.accounts, clock, sessionCache)
        self.devices = Devices(store.accounts, clock)
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
        nombre, email = checkNombre(nombre), checkEmail(email)
        # How guessable it is is judged on the hashing thread, with the hash.
        password = checkPasswordShape(password)
        # A place to hash first (503 at once when hashing is saturated), then the count
        # every node shares: every sign-up that gets its password hashed counts against
        # its address, made or not (an email in use too: a script probing emails is held
        # off); a refused password (400, with the reason) gives its attempt back.
        ticket = self.passwords.admit()
        try:
            now = utcnow(self._clock)
            limits = self.throttle.signup(clientAddress(request))
            await self.throttle.reserve(limits, now, TooManyRequests)
            try:
                passwordHash = await self.passwords.hashNew(password, [nombre, email], ticket)
            except BaseException:
                await self.throttle.release(limits, succeeded=False)
                raise
        finally:
            ticket.release()
        try:
            user = await self._store.users.create(nombre, email, passwordHash, now=now)
        except EmailInUse:
            raise EmailInUseError() from None
        await self.sessions.start(request, user)
        await self.devices.remember(request, user, None, now)
        setattr(request, _USER_KEY, user)
        return user

    async def _check(
        self,
        request: IRequest,
        email: str,
        userID: int | None,
        passwordHash: str | None,
        password: str,
        ticket: Ticket | None = None,
    ) -> tuple[bool, Device | None]:
        """
        Check a password against the throttle: a place in the hashing queue (C{ticket},
        or one taken here, in the known browsers' lane if the request has a valid device
        cookie for the account), then reserve the attempt (429 if there is no room),
        check, and give the attempt back unless it failed. The request's valid device
        cookie, if any, comes back too.
        """
        now = utcnow(self._clock)
        device = await self.devices.known(request, now)
        known = device is not None and userID is not None and device.userID == userID
        if device is not None and known:
            limits = self.throttle.device(device.tokenHash)
        else:
            limits = self.throttle.strangers(email, clientAddress(request))
        own = self.passwords.admit(priority=known) if ticket is None else None
        try:
            await self.throttle.reserve(limits, now, TooManyAttempts)
            try:
                right = await self.passwords.verify(
                    passwordHash, password, priority=known, ticket=ticket or own
                )
            except BaseException:
                # Not checked (hashing saturated, say): the attempt is not a failure.
                await self.throttle.release(limits, succeeded=False)
                raise
        finally:
            if own is not None:
                own.release()
        if right:
            await self.throttle.release(limits, succeeded=True)
        else:
            log.info(
                "Password check failed for {clave}",
                clave=limits[0].key.split(":", 1)[0],
                known=known,
            )
        return right, device

    async def login(self, request: IRequest, email: object, password: object) -> User:
        if not isinstance(email, str) or not isinstance(password, str):
            raise InvalidRequest("Faltan el correo electrónico o la contraseña.")
        # A stranger (no device cookie) takes a place in the hashing queue before any
        # database work: in a flood, the refusal (503) costs nothing.
        ticket = None if self.devices.carried(request) else self.passwords.admit()
        try:
            found = await self._store.users.byEmail(email)
            user, passwordHash = found if found is not None else (None, None)
            right, device = await self._check(
                request, email, None if user is None else user.id, passwordHash, password, ticket
            )
        finally:
            if ticket is not None:
                ticket.release()
        if not right or user is None:
            raise BadCredentials()
        if passwordHash is not None and self.passwords.needsRehash(passwordHash):
            await self._store.users.setPasswordHash(user.id, await self.passwords.hash(password))
        await self.sessions.start(request, user)
        await self.devices.remember(request, user, device, utcnow(self._clock))
        setattr(request, _USER_KEY, user)
        return user

    async def logout(self, request: IRequest) -> None:
        await self.requireUser(request)
        await self.sessions.end(request)

    async def userChanged(self, userID: int) -> None:
        """
        The account was deleted, or what a L{User} carries changed: every web node reads
        its sessions from the database again.
        """
        await self.sessions.cache.drop(userID)

    async def checkOwnPassword(self, request: IRequest, user: User, password: object) -> None:
        """
        Confirm a sensitive action with the user's own password (throttled like a login,
        with the same reservation before the check).
        """
        if not isinstance(password, str) or not password:
            raise InvalidRequest("Escribe tu contraseña para confirmar.")
        passwordHash = await self._store.users.passwordHash(user.id)
        right, _ = await self._check(request, user.email, user.id, passwordHash, password)
        if not right:
            raise BadCredentials("La contraseña no es correcta.")
