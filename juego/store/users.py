"""
Players' accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from twisted.internet.defer import Deferred

from juego.model import User, utcnow
from juego.store import schema as s
from juego.store.pool import DBThreadPool


class EmailInUse(Exception):
    """
    Another account already has this email.
    """


def normaliseEmail(email: str) -> str:
    return email.strip().lower()


def _user(row: Row) -> User:
    return User(
        id=row.id,
        nombre=row.nombre,
        email=row.email,
        es_admin=bool(row.es_admin),
        fecha_registro=row.fecha_registro,
        bio=row.bio,
    )


_USER_COLUMNS = (
    s.users.c.id,
    s.users.c.nombre,
    s.users.c.email,
    s.users.c.es_admin,
    s.users.c.fecha_registro,
    s.users.c.bio,
)


class UsersStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def create(
        self,
        nombre: str,
        email: str,
        passwordHash: str,
        esAdmin: bool = False,
        now: datetime | None = None,
    ) -> Deferred[User]:
        """
        Make an account (and its empty aggregates). Fails with L{EmailInUse}.
        """
        when = now or utcnow()
        email = normaliseEmail(email)

        def work(conn: Connection) -> User:
            userID = conn.execute(
                insert(s.users)
                .values(
                    nombre=nombre,
                    email=email,
                    password_hash=passwordHash,
                    es_admin=esAdmin,
                    bio="",
                    fecha_registro=when,
                )
                .returning(s.users.c.id)
            ).scalar_one()
            conn.execute(insert(s.user_aggregates).values(user_id=userID))
            conn.execute(
                update(s.totals).where(s.totals.c.id == 1).values(usuarios=s.totals.c.usuarios + 1)
            )
            return User(userID, nombre, email, esAdmin, when, "")

        def translate(failure):  # type: ignore[no-untyped-def]
            failure.trap(IntegrityError)
            raise EmailInUse(email)

        return self._pool.write(work).addErrback(translate)

    def get(self, userID: int) -> Deferred[User | None]:
        def work(conn: Connection) -> User | None:
            row = conn.execute(select(*_USER_COLUMNS).where(s.users.c.id == userID)).first()
            return None if row is None else _user(row)

        return self._pool.read(work)

    def byEmail(self, email: str) -> Deferred[tuple[User, str] | None]:
        """
        The account with this email and its password hash, for logging in.
        """

        def work(conn: Connection) -> tuple[User, str] | None:
            row = conn.execute(
                select(*_USER_COLUMNS, s.users.c.password_hash).where(
                    s.users.c.email == normaliseEmail(email)
                )
            ).first()
            return None if row is None else (_user(row), row.password_hash)

        return self._pool.read(work)

    def list(self, limit: int = 100, offset: int = 0) -> Deferred[Sequence[User]]:
        def work(conn: Connection) -> list[User]:
            rows = conn.execute(
                select(*_USER_COLUMNS).order_by(s.users.c.id).limit(limit).offset(offset)
            )
            return [_user(row) for row in rows]

        return self._pool.read(work)
