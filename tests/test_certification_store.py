"""
The certification tests' store, one suite on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import inspect, select, text
from twisted.trial.unittest import SynchronousTestCase

from juego.store import schema as s
from juego.store.certifications import Certification, TooManyTests
from juego.store.migrate import _config, currentRevision, upgrade
from juego.store.pool import makeEngine
from tests.support import PostgresMixin, SQLiteMixin, synchronousStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class CertificationStoreMixin:
    def setUp(self) -> None:
        self.store = synchronousStore(self, self.databaseURL())
        self.ana = self.successResultOf(self.store.users.create("ana", "ana@example.com", "h"))
        self.bea = self.successResultOf(self.store.users.create("bea", "bea@example.com", "h"))

    def new(self, userID=None, now=T0, velocidad=150.0):
        return Certification(
            id=str(uuid.uuid4()),
            user_id=userID or self.ana.id,
            texto="hola mundo casa",
            semilla=12345678901234,
            velocidad=velocidad,
            objetivo_wpm=velocidad * 0.75,
            creada=now,
            caduca=now + timedelta(minutes=5),
        )

    def start(self, new, perHour=10):
        return self.successResultOf(self.store.certifications.start(new, perHour))

    def test_startAndGet(self):
        new = self.new()
        test, created = self.start(new)
        self.assertTrue(created)
        self.assertEqual(test, new)
        got = self.successResultOf(self.store.certifications.get(new.id))
        self.assertEqual(got, new)
        self.assertEqual(got.creada.tzinfo, UTC)
        self.assertIsNone(self.successResultOf(self.store.certifications.get("nope")))
        self.assertEqual(
            self.successResultOf(self.store.certifications.current(self.ana.id, T0)), new
        )
        self.assertIsNone(self.successResultOf(self.store.certifications.current(self.bea.id, T0)))

    def test_oneOpenTestPerPlayer(self):
        """
        Starting again while a test is open gives that test back; another player gets
        their own.
        """
        first, _ = self.start(self.new())
        again, created = self.start(self.new(now=T0 + timedelta(seconds=30)))
        self.assertEqual((again.id, created), (first.id, False))
        other, created = self.start(self.new(self.bea.id))
        self.assertTrue(created)
        self.assertNotEqual(other.id, first.id)

    def test_newTestAfterAnswerOrExpiry(self):
        first, _ = self.start(self.new())
        self.successResultOf(self.store.certifications.view(first.id, T0))
        self.assertTrue(
            self.successResultOf(self.store.certifications.answer(first.id, T0, False, 10, 0.5))
        )
        second, created = self.start(self.new(now=T0 + timedelta(seconds=1)))
        self.assertTrue(created)
        later = T0 + timedelta(minutes=6)
        third, created = self.start(self.new(now=later))
        self.assertTrue(created)
        self.assertNotEqual(second.id, third.id)
        self.assertIsNone(
            self.successResultOf(
                self.store.certifications.current(self.ana.id, later + timedelta(minutes=6))
            )
        )

    def test_perHour(self):
        now = T0
        for _ in range(3):
            test, created = self.start(self.new(now=now), perHour=3)
            self.assertTrue(created)
            self.successResultOf(self.store.certifications.view(test.id, now))
            self.successResultOf(self.store.certifications.answer(test.id, now, False, 1, 0))
            now += timedelta(minutes=1)
        self.failureResultOf(self.store.certifications.start(self.new(now=now), 3), TooManyTests)
        # An hour after the first, one more.
        _, created = self.start(self.new(now=T0 + timedelta(minutes=60, seconds=1)), perHour=3)
        self.assertTrue(created)

    def test_viewStartsTheClockOnce(self):
        test, _ = self.start(self.new())
        seen = self.successResultOf(self.store.certifications.view(test.id, T0 + timedelta(1)))
        self.assertEqual(seen.vista, T0 + timedelta(1))
        again = self.successResultOf(self.store.certifications.view(test.id, T0 + timedelta(2)))
        self.assertEqual(again.vista, T0 + timedelta(1))

    def test_answerOnce(self):
        test, _ = self.start(self.new())
        # Not before the image was seen.
        self.assertFalse(
            self.successResultOf(self.store.certifications.answer(test.id, T0, True, 120, 1))
        )
        self.successResultOf(self.store.certifications.view(test.id, T0))
        when = T0 + timedelta(seconds=20)
        self.assertTrue(
            self.successResultOf(self.store.certifications.answer(test.id, when, True, 120, 0.98))
        )
        self.assertFalse(
            self.successResultOf(self.store.certifications.answer(test.id, when, False, 1, 0))
        )
        got = self.successResultOf(self.store.certifications.get(test.id))
        self.assertEqual(
            (got.respondida, got.aprobada, got.wpm, got.precision), (when, True, 120, 0.98)
        )
        self.assertFalse(got.isOpen(when))

    def test_passCertifiesAtomically(self):
        """
        A pass raises the certified speed to the test's in the answer's transaction, and
        never lowers it; a failed answer leaves it.
        """
        certified = lambda: self.successResultOf(self.store.users.certifiedWpm(self.ana.id))  # noqa: E731
        test, _ = self.start(self.new(velocidad=140.0))
        self.successResultOf(self.store.certifications.view(test.id, T0))
        self.successResultOf(self.store.certifications.answer(test.id, T0, False, 1, 0))
        self.assertIsNone(certified())
        test, _ = self.start(self.new(now=T0 + timedelta(seconds=1), velocidad=140.0))
        self.successResultOf(self.store.certifications.view(test.id, T0))
        self.successResultOf(self.store.certifications.answer(test.id, T0, True, 110, 1))
        self.assertEqual(certified(), 140.0)
        self.assertIsNone(
            self.successResultOf(self.store.users.certifiedWpm(self.bea.id)), "only Ana's"
        )
        test, _ = self.start(self.new(now=T0 + timedelta(seconds=2), velocidad=120.0))
        self.successResultOf(self.store.certifications.view(test.id, T0))
        self.successResultOf(self.store.certifications.answer(test.id, T0, True, 100, 1))
        self.assertEqual(certified(), 140.0)

    def test_deletedWithTheUser(self):
        test, _ = self.start(self.new())
        with self.store.engine.begin() as conn:
            conn.execute(s.users.delete().where(s.users.c.id == self.ana.id))
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(s.certificaciones.c.id)).all()
        self.assertEqual(rows, [])


class SQLiteCertificationStoreTests(SQLiteMixin, CertificationStoreMixin, SynchronousTestCase):
    pass


class PostgresCertificationStoreTests(PostgresMixin, CertificationStoreMixin, SynchronousTestCase):
    pass


class MigrationMixin:
    """
    Revision 0005 adds the certificaciones table and keeps every existing row; going
    back drops only that table.
    """

    def test_upAndDown(self):
        engine = makeEngine(self.databaseURL())
        self.addCleanup(engine.dispose)
        upgrade(engine, "0004")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (nombre, email, password_hash, es_admin, bio, "
                    "fecha_registro) VALUES ('Ana', 'ana@example.com', 'h', false, '', :f)"
                ),
                {"f": T0.replace(tzinfo=None)},
            )
        upgrade(engine, "0005")
        self.assertIn("certificaciones", inspect(engine).get_table_names())
        with engine.connect() as conn:
            self.assertEqual(conn.execute(select(s.users.c.nombre)).scalars().all(), ["Ana"])
            self.assertEqual(conn.execute(select(s.certificaciones)).all(), [])
        with engine.begin() as conn:
            command.downgrade(_config(conn), "0004")
        self.assertEqual(currentRevision(engine), "0004")
        self.assertNotIn("certificaciones", inspect(engine).get_table_names())
        with engine.connect() as conn:
            self.assertEqual(conn.execute(select(s.users.c.nombre)).scalars().all(), ["Ana"])


class SQLiteMigrationTests(SQLiteMixin, MigrationMixin, SynchronousTestCase):
    pass


class PostgresMigrationTests(PostgresMixin, MigrationMixin, SynchronousTestCase):
    pass
