"""
Sessions, attempt throttling and device cookies (owned by juego-web).

A session or a device cookie is stored by the SHA-256 of its token (the token itself
lives only in the player's cookie). Attempts (password checks, sign-ups) are counted per
key (an account, a client address, a device cookie) in the database, so that every web
process throttles them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
from sqlalchemy import Connection, bindparam, case, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from juego.model import User
from juego.store import schema as s
from juego.store.pool import DBThreadPool
from juego.store.users import USER_COLUMNS, userFromRow


@attrs.frozen
class SessionInfo:
    """
    A live session: whose it is and when it lapses.
    """

    user: User
    expira: datetime


#: Every request's session lookup, built once (building a statement costs more than
#: running it).
_SESSION_USER = (
    select(*USER_COLUMNS, s.sessions.c.expira)
    .select_from(s.sessions.join(s.users, s.users.c.id == s.sessions.c.user_id))
    .where(s.sessions.c.token_hash == bindparam("token"), s.sessions.c.expira > bindparam("now"))
)


class AccountsStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    # Sessions

    def createSession(
        self, tokenHash: str, userID: int, now: datetime, expira: datetime
    ) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(
                insert(s.sessions).values(
                    token_hash=tokenHash, user_id=userID, creada=now, expira=expira
                )
            )

        return self._pool.write(work)

    def session(self, tokenHash: str, now: datetime) -> Deferred[SessionInfo | None]:
        """
        The session with this token hash, if it has not expired.
        """

        def work(conn: Connection) -> SessionInfo | None:
            row = conn.execute(_SESSION_USER, {"token": tokenHash, "now": now}).first()
            return None if row is None else SessionInfo(userFromRow(row), row.expira)

        return self._pool.read(work)

    def extendSession(self, tokenHash: str, expira: datetime) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(
                update(s.sessions).where(s.sessions.c.token_hash == tokenHash).values(expira=expira)
            )

        return self._pool.write(work)

    def deleteSession(self, tokenHash: str) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(delete(s.sessions).where(s.sessions.c.token_hash == tokenHash))

        return self._pool.write(work)

    # Attempt throttling

    def reserve(self, limits: Sequence[Limit], now: datetime) -> Deferred[timedelta | None]:
        """
        Take one attempt under every key of C{limits} at once, or none: C{None} if taken,
        else how long until the fullest key has room again.

        Each key is one counter row whose window opens at its first attempt; a
        conditional C{UPDATE ... WHERE intentos < limit} takes the attempt, so two
        requests (on one web node or several, SQLite or PostgreSQL) can never both take
        the last one: on PostgreSQL the second UPDATE waits for the first's row lock and
        then re-checks its condition; on SQLite writes are serialised by C{BEGIN
        IMMEDIATE}. Keys are visited in order so that two reservations cannot deadlock.
        """

        def work(conn: Connection) -> None:
            waits: list[timedelta] = []
            for limit in sorted(limits):
                wait = _take(conn, limit, now)
                if wait is not None:
                    waits.append(wait)
            if waits:
                # Undo the keys taken so far (the write runs in its own savepoint).
                raise _Full(max(waits))

        def full(failure: Failure) -> timedelta:
            failure.trap(_Full)
            wait: timedelta = failure.value.wait
            return wait

        return self._pool.write(work).addErrback(full)

    def release(self, keys: Sequence[str], clear: Sequence[str] = ()) -> Deferred[None]:
        """
        Give back one reserved attempt under each of C{keys} (the attempt did not
        fail), and forget every attempt under C{clear}.
        """
        t = s.login_throttle

        def work(conn: Connection) -> None:
            give = sorted(set(keys) - set(clear))
            if give:
                conn.execute(
                    update(t)
                    .where(t.c.clave.in_(give), t.c.intentos > 0)
                    .values(intentos=t.c.intentos - 1)
                )
            if clear:
                conn.execute(delete(t).where(t.c.clave.in_(sorted(set(clear)))))

        return self._pool.write(work)

    def attempts(self, key: str) -> Deferred[tuple[int, datetime] | None]:
        """
        The attempts counted under C{key} and when its window opened (for tests and
        operators).
        """
        t = s.login_throttle

        def work(conn: Connection) -> tuple[int, datetime] | None:
            row = conn.execute(select(t.c.intentos, t.c.desde).where(t.c.clave == key)).first()
            return None if row is None else (row.intentos, row.desde)

        return self._pool.read(work)

    # Device cookies

    def addDevice(self, tokenHash: str, userID: int, now: datetime) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(
                insert(s.device_cookies).values(
                    token_hash=tokenHash, user_id=userID, creada=now, usada=now
                )
            )

        return self._pool.write(work)

    def deviceUser(self, tokenHash: str, since: datetime) -> Deferred[int | None]:
        """
        The account a device cookie was issued for, if it was last used after C{since}.
        """
        d = s.device_cookies

        def work(conn: Connection) -> int | None:
            userID: int | None = conn.execute(
                select(d.c.user_id).where(d.c.token_hash == tokenHash, d.c.usada > since)
            ).scalar_one_or_none()
            return userID

        return self._pool.read(work)

    def touchDevice(self, tokenHash: str, now: datetime) -> Deferred[None]:
        d = s.device_cookies

        def work(conn: Connection) -> None:
            conn.execute(update(d).where(d.c.token_hash == tokenHash).values(usada=now))

        return self._pool.write(work)

    # Housekeeping

    def purge(
        self, now: datetime, attemptsBefore: datetime, devicesBefore: datetime | None = None
    ) -> Deferred[None]:
        """
        Forget expired sessions, attempt counters whose window opened before
        C{attemptsBefore} and device cookies last used before C{devicesBefore}.
        """

        def work(conn: Connection) -> None:
            conn.execute(delete(s.sessions).where(s.sessions.c.expira <= now))
            conn.execute(delete(s.login_throttle).where(s.login_throttle.c.desde <= attemptsBefore))
            if devicesBefore is not None:
                conn.execute(
                    delete(s.device_cookies).where(s.device_cookies.c.usada <= devicesBefore)
                )

        return self._pool.write(work)


@attrs.frozen(order=True)
class Limit:
    """
    At most C{limit} attempts under C{key} in a window of C{window}.
    """

    key: str
    limit: int
    window: timedelta


class _Full(Exception):
    def __init__(self, wait: timedelta) -> None:
        super().__init__(wait)
        self.wait = wait


def _take(conn: Connection, limit: Limit, now: datetime) -> timedelta | None:
    """
    Take one attempt under C{limit}'s key: C{None}, or how long until there is room.
    """
    t = s.login_throttle
    stale = now - limit.window
    expired = t.c.desde <= stale
    take = (
        update(t)
        .where(t.c.clave == limit.key, or_(expired, t.c.intentos < limit.limit))
        .values(
            intentos=case((expired, 1), else_=t.c.intentos + 1),
            desde=case((expired, now), else_=t.c.desde),
        )
    )
    if conn.execute(take).rowcount == 1:
        return None
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    first = dialect.insert(t).values(clave=limit.key, intentos=1, desde=now)
    # RETURNING tells whether the row was made (rowcount is not reliable for
    # ON CONFLICT DO NOTHING across drivers).
    if conn.execute(first.on_conflict_do_nothing().returning(t.c.clave)).first() is not None:
        return None
    # Another transaction made the row meanwhile: its attempt is now visible.
    if conn.execute(take).rowcount == 1:
        return None
    desde = conn.execute(select(t.c.desde).where(t.c.clave == limit.key)).scalar_one()
    return max(desde + limit.window - now, timedelta(0))
