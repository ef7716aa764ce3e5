"""
The notifications store, one suite run against SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from twisted.trial.unittest import SynchronousTestCase

from juego.model import Notification
from juego.store import schema as s
from juego.store.notifications import MAX_PER_USER
from tests.support import PostgresMixin, SQLiteMixin, synchronousStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class NotificationsStoreTestsMixin:
    def setUp(self) -> None:
        self.store = synchronousStore(self, self.databaseURL())
        self.notifications = self.store.notifications

    def user(self, nombre="ana"):
        return self.successResultOf(
            self.store.users.create(nombre, f"{nombre}@example.com", "hash")
        )

    def add(self, userID, message="hola", kind="info", now=T0):
        return self.successResultOf(self.notifications.add(userID, message, kind, now))

    def stored(self, userID):
        with self.store.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(s.notifications)
                .where(s.notifications.c.user_id == userID)
            ).scalar_one()

    def test_addAndList(self):
        u = self.user()
        first = self.add(u.id, "¡Nuevo récord personal: 50 puntos!", "success")
        self.assertIsInstance(first, Notification)
        self.assertEqual(
            (first.user_id, first.message, first.type, first.timestamp, first.leida),
            (u.id, "¡Nuevo récord personal: 50 puntos!", "success", T0, False),
        )
        second = self.add(u.id, "<b>dos</b>", now=T0 + timedelta(seconds=1))
        listed = self.successResultOf(self.notifications.list(u.id))
        self.assertEqual(listed, [second, first])  # newest first, exactly as stored
        self.assertEqual(listed[0].timestamp.tzinfo, UTC)

    def test_idempotencyKey(self):
        u = self.user()
        first, new = self.successResultOf(
            self.notifications.addOnce(u.id, "uno", "success", "k-1", T0)
        )
        self.assertTrue(new)
        again, newAgain = self.successResultOf(
            self.notifications.addOnce(u.id, "uno", "success", "k-1", T0 + timedelta(seconds=5))
        )
        self.assertEqual((again, newAgain), (first, False))
        other, otherNew = self.successResultOf(
            self.notifications.addOnce(u.id, "dos", "info", "k-2", T0)
        )
        self.assertTrue(otherNew)
        self.assertNotEqual(other.id, first.id)
        self.assertEqual(self.stored(u.id), 2)

    def test_unknownUser(self):
        self.assertIsNone(self.add(999))
        self.assertIsNone(self.successResultOf(self.notifications.list(999)))
        self.assertIsNone(self.successResultOf(self.notifications.markRead(999)))
        self.assertIsNone(self.successResultOf(self.notifications.unreadCount(999)))
        self.assertEqual(self.stored(999), 0)

    def test_emptyList(self):
        u = self.user()
        self.assertEqual(self.successResultOf(self.notifications.list(u.id)), [])
        self.assertEqual(self.successResultOf(self.notifications.unreadCount(u.id)), 0)

    def test_unknownTypeRejected(self):
        u = self.user()
        self.assertRaises(ValueError, self.notifications.add, u.id, "x", "spam")

    def test_limitAndUnreadOnly(self):
        u = self.user()
        made = [self.add(u.id, f"n{i}", now=T0 + timedelta(seconds=i)) for i in range(5)]
        two = self.successResultOf(self.notifications.list(u.id, limit=2))
        self.assertEqual([n.message for n in two], ["n4", "n3"])
        marked = self.successResultOf(self.notifications.markRead(u.id, [made[4].id, made[2].id]))
        self.assertEqual(marked, 2)
        unread = self.successResultOf(self.notifications.list(u.id, unreadOnly=True))
        self.assertEqual([n.message for n in unread], ["n3", "n1", "n0"])
        self.assertEqual(self.successResultOf(self.notifications.unreadCount(u.id)), 3)
        everything = self.successResultOf(self.notifications.list(u.id))
        self.assertEqual([n.leida for n in everything], [True, False, True, False, False])

    def test_markAllRead(self):
        u = self.user()
        for i in range(3):
            self.add(u.id, f"n{i}")
        self.assertEqual(self.successResultOf(self.notifications.markRead(u.id)), 3)
        self.assertEqual(self.successResultOf(self.notifications.markRead(u.id)), 0)
        self.assertEqual(self.successResultOf(self.notifications.list(u.id, unreadOnly=True)), [])

    def test_markReadOnlyOwnNotifications(self):
        a, b = self.user("a"), self.user("b")
        theirs = self.add(b.id, "de b")
        mine = self.add(a.id, "de a")
        self.assertEqual(self.successResultOf(self.notifications.markRead(a.id, [theirs.id])), 0)
        self.assertEqual(self.successResultOf(self.notifications.markRead(a.id, [])), 0)
        self.assertEqual(
            self.successResultOf(self.notifications.markRead(a.id, [mine.id, mine.id])), 1
        )
        [still] = self.successResultOf(self.notifications.list(b.id))
        self.assertFalse(still.leida)

    def test_capKeepsNewest(self):
        a, b = self.user("a"), self.user("b")
        self.add(b.id, "otro usuario")
        for i in range(MAX_PER_USER + 20):
            self.add(a.id, f"n{i}")
        self.assertEqual(self.stored(a.id), MAX_PER_USER)
        kept = self.successResultOf(self.notifications.list(a.id, limit=1000))
        self.assertEqual(len(kept), MAX_PER_USER)
        self.assertEqual(kept[0].message, f"n{MAX_PER_USER + 19}")
        self.assertEqual(kept[-1].message, "n20")
        self.assertEqual(self.stored(b.id), 1)  # another player's are untouched

    def test_survivesReopening(self):
        u = self.user()
        made = self.add(u.id, "persiste", "warning")
        self.store.engine.dispose()
        self.assertEqual(self.successResultOf(self.notifications.list(u.id)), [made])

    def test_deletedWithTheUser(self):
        u = self.user()
        self.add(u.id)
        self.assertTrue(self.successResultOf(self.store.scores.deleteUser(u.id)))
        self.assertEqual(self.stored(u.id), 0)
        self.assertIsNone(self.successResultOf(self.notifications.list(u.id)))


class SQLiteNotificationsStoreTests(SQLiteMixin, NotificationsStoreTestsMixin, SynchronousTestCase):
    pass


class PostgresNotificationsStoreTests(
    PostgresMixin, NotificationsStoreTestsMixin, SynchronousTestCase
):
    pass
