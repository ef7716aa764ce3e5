"""
Certification tests (docs/SECURITY.md, "The ranking: human results only"), owned by juego-web.

A test is created for a player with results held for certification, its clock starts at
the first fetch of its image (C{vista}) and it takes one answer (C{respondida}). Each step
is one conditional statement, so that whichever web node takes a request, and however
many requests race, a test starts its clock once and is answered once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
from sqlalchemy import Connection, Row, case, func, insert, select, update
from twisted.internet.defer import Deferred

from juego.model import _aware, _aware_required
from juego.store import schema as s
from juego.store.pool import DBThreadPool


@attrs.frozen
class Certification:
    """
    One test. C{texto} is the secret: it leaves the server only as the image.
    """

    id: str
    user_id: int
    texto: str = attrs.field(repr=False)
    semilla: int
    velocidad: float
    objetivo_wpm: float
    creada: datetime = attrs.field(converter=_aware_required)
    caduca: datetime = attrs.field(converter=_aware_required)
    vista: datetime | None = attrs.field(default=None, converter=_aware)
    respondida: datetime | None = attrs.field(default=None, converter=_aware)
    aprobada: bool | None = None
    wpm: float | None = None
    precision: float | None = None

    def isOpen(self, now: datetime) -> bool:
        """
        Still waiting for its answer, and not expired.
        """
        return self.respondida is None and now <= self.caduca


class TooManyTests(Exception):
    """
    The player started as many tests as allowed in the last hour.
    """


def _certification(row: Row) -> Certification:
    return Certification(
        id=row.id,
        user_id=row.user_id,
        texto=row.texto,
        semilla=row.semilla,
        velocidad=row.velocidad,
        objetivo_wpm=row.objetivo_wpm,
        creada=row.creada,
        caduca=row.caduca,
        vista=row.vista,
        respondida=row.respondida,
        aprobada=None if row.aprobada is None else bool(row.aprobada),
        wpm=row.wpm,
        precision=row.precision,
    )


def _get(conn: Connection, certificationID: str) -> Certification | None:
    row = conn.execute(
        select(s.certificaciones).where(s.certificaciones.c.id == certificationID)
    ).first()
    return None if row is None else _certification(row)


def _open(conn: Connection, userID: int, now: datetime) -> Certification | None:
    c = s.certificaciones.c
    row = conn.execute(
        select(s.certificaciones)
        .where(c.user_id == userID, c.respondida.is_(None), c.caduca >= now)
        .order_by(c.creada.desc())
        .limit(1)
    ).first()
    return None if row is None else _certification(row)


class CertificationsStore:
    def __init__(self, pool: DBThreadPool) -> None:
        self._pool = pool

    def start(self, new: Certification, perHour: int) -> Deferred[tuple[Certification, bool]]:
        """
        The player's open test if there is one (C{(test, False)}), else C{new}, stored
        (C{(new, True)}). One open test per player: the check and the insert run under a
        lock on the player's row (PostgreSQL; SQLite's write lock serialises anyway).
        Fails with L{TooManyTests} when the player started C{perHour} tests in the hour
        before C{new.creada}.
        """

        def work(conn: Connection) -> tuple[Certification, bool]:
            conn.execute(select(s.users.c.id).where(s.users.c.id == new.user_id).with_for_update())
            current = _open(conn, new.user_id, new.creada)
            if current is not None:
                return current, False
            c = s.certificaciones.c
            recent = conn.execute(
                select(func.count())
                .select_from(s.certificaciones)
                .where(c.user_id == new.user_id, c.creada > new.creada - timedelta(hours=1))
            ).scalar_one()
            if recent >= perHour:
                raise TooManyTests()
            conn.execute(
                insert(s.certificaciones).values(
                    id=new.id,
                    user_id=new.user_id,
                    texto=new.texto,
                    semilla=new.semilla,
                    velocidad=new.velocidad,
                    objetivo_wpm=new.objetivo_wpm,
                    creada=new.creada,
                    caduca=new.caduca,
                )
            )
            return new, True

        return self._pool.write(work)

    def get(self, certificationID: str) -> Deferred[Certification | None]:
        return self._pool.read(lambda conn: _get(conn, certificationID))

    def current(self, userID: int, now: datetime) -> Deferred[Certification | None]:
        """
        The player's open test, if any.
        """
        return self._pool.read(lambda conn: _open(conn, userID, now))

    def view(self, certificationID: str, now: datetime) -> Deferred[Certification | None]:
        """
        Start the test's clock at C{now} unless it already runs; the test as it now is.
        """

        def work(conn: Connection) -> Certification | None:
            c = s.certificaciones.c
            conn.execute(
                update(s.certificaciones)
                .where(c.id == certificationID, c.vista.is_(None))
                .values(vista=now)
            )
            return _get(conn, certificationID)

        return self._pool.write(work)

    def answer(
        self, certificationID: str, now: datetime, aprobada: bool, wpm: float, precision: float
    ) -> Deferred[bool]:
        """
        Record the test's one answer; C{False} if it already had one (or never started).
        A passed test raises the player's certified speed to the test's held speed in the
        same transaction, so a pass recorded is a pass applied, whatever fails next.
        """

        def work(conn: Connection) -> bool:
            c = s.certificaciones.c
            result = conn.execute(
                update(s.certificaciones)
                .where(c.id == certificationID, c.respondida.is_(None), c.vista.is_not(None))
                .values(respondida=now, aprobada=aprobada, wpm=wpm, precision=precision)
                .returning(c.user_id, c.velocidad)
            ).first()
            if result is None:
                return False
            if aprobada:
                # As UsersStore.certify: keep the highest speed ever certified.
                column = s.users.c.velocidad_certificada
                conn.execute(
                    update(s.users)
                    .where(s.users.c.id == result.user_id)
                    .values(
                        velocidad_certificada=case(
                            (column.is_(None), result.velocidad),
                            (column < result.velocidad, result.velocidad),
                            else_=column,
                        )
                    )
                )
            return True

        return self._pool.write(work)
