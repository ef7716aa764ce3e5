"""
Sessions and login throttling (owned by juego-web).

A session is stored by the SHA-256 of its token (the token itself lives only in the
player's cookie). Failed logins are kept per key (an account's email, a client address)
so that any web process can throttle them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs
from sqlalchemy import Connection, bindparam, delete, insert, select, update
from twisted.internet.defer import Deferred

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


@attrs.frozen
class Failures:
    """
    The failed logins under one key since some instant, oldest first.
    """

    fechas: tuple[datetime, ...]

    @property
    def count(self) -> int:
        return len(self.fechas)


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

    # Login throttling

    def recordFailure(self, claves: Sequence[str], now: datetime) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(insert(s.login_failures), [{"clave": c, "fecha": now} for c in claves])

        return self._pool.write(work)

    def failures(self, clave: str, since: datetime) -> Deferred[Failures]:
        def work(conn: Connection) -> Failures:
            rows = conn.execute(
                select(s.login_failures.c.fecha)
                .where(s.login_failures.c.clave == clave, s.login_failures.c.fecha > since)
                .order_by(s.login_failures.c.fecha)
            )
            return Failures(tuple(r.fecha for r in rows))

        return self._pool.read(work)

    def clearFailures(self, clave: str) -> Deferred[None]:
        def work(conn: Connection) -> None:
            conn.execute(delete(s.login_failures).where(s.login_failures.c.clave == clave))

        return self._pool.write(work)

    # Housekeeping

    def purge(self, now: datetime, failuresBefore: datetime) -> Deferred[None]:
        """
        Forget expired sessions and failed logins older than C{failuresBefore}.
        """

        def work(conn: Connection) -> None:
            conn.execute(delete(s.sessions).where(s.sessions.c.expira <= now))
            conn.execute(delete(s.login_failures).where(s.login_failures.c.fecha <= failuresBefore))

        return self._pool.write(work)
