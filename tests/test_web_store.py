"""
The store parts juego-web owns (sessions, failed logins, partidas, the outbox, profile
and admin additions to users), one suite run against SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from twisted.trial.unittest import SynchronousTestCase

from juego.model import Partida
from juego.store import accounts as accountsModule
from juego.store import schema as s
from juego.store.accounts import Limit
from juego.store.migrate import _config, upgrade
from juego.store.partidas import Verified
from juego.store.pool import makeEngine
from juego.store.users import InvalidField, checkBio, checkEmail, checkNombre, checkPassword
from tests.support import PostgresMixin, SQLiteMixin, synchronousStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
MINUTE = timedelta(minutes=1)


class WebStoreTestsMixin:
    def setUp(self):
        self.store = synchronousStore(self, self.databaseURL())
        self.user = self.successResultOf(
            self.store.users.create("Ana", "ana@example.com", "h", now=T0)
        )

    def r(self, d):
        return self.successResultOf(d)

    # sessions

    def test_sessions(self):
        accounts = self.store.accounts
        self.r(accounts.createSession("a" * 64, self.user.id, T0, T0 + timedelta(days=30)))
        info = self.r(accounts.session("a" * 64, T0 + timedelta(days=1)))
        self.assertEqual((info.user, info.expira), (self.user, T0 + timedelta(days=30)))
        self.assertIsNone(self.r(accounts.session("a" * 64, T0 + timedelta(days=30))))
        self.assertIsNone(self.r(accounts.session("b" * 64, T0)))
        self.r(accounts.extendSession("a" * 64, T0 + timedelta(days=40)))
        self.assertIsNotNone(self.r(accounts.session("a" * 64, T0 + timedelta(days=35))))
        self.r(accounts.deleteSession("a" * 64))
        self.assertIsNone(self.r(accounts.session("a" * 64, T0)))

    def test_reserveUpToTheLimit(self):
        accounts = self.store.accounts
        limits = [Limit("cuenta:x", 3, WINDOW), Limit("ip:1", 5, WINDOW)]
        for _ in range(3):
            self.assertIsNone(self.r(accounts.reserve(limits, T0)))
        self.assertEqual(self.r(accounts.reserve(limits, T0 + timedelta(minutes=5))), 10 * MINUTE)
        # Refused as a whole: the address's counter did not move either.
        self.assertEqual(self.r(accounts.attempts("cuenta:x")), (3, T0))
        self.assertEqual(self.r(accounts.attempts("ip:1")), (3, T0))
        # The window (opened by the first attempt) closes: a new one opens.
        later = T0 + WINDOW + timedelta(seconds=1)
        self.assertIsNone(self.r(accounts.reserve(limits, later)))
        self.assertEqual(self.r(accounts.attempts("cuenta:x")), (1, later))
        self.assertEqual(self.r(accounts.attempts("ip:1")), (1, later))

    def test_fullAddressRefusesEveryAccount(self):
        accounts = self.store.accounts
        for i in range(2):
            self.assertIsNone(
                self.r(
                    accounts.reserve(
                        [Limit(f"cuenta:{i}", 5, WINDOW), Limit("ip:1", 2, WINDOW)], T0
                    )
                )
            )
        wait = self.r(
            accounts.reserve([Limit("cuenta:9", 5, WINDOW), Limit("ip:1", 2, WINDOW)], T0)
        )
        self.assertEqual(wait, WINDOW)
        self.assertIsNone(self.r(accounts.attempts("cuenta:9")))

    def test_release(self):
        accounts = self.store.accounts
        limits = [Limit("cuenta:x", 3, WINDOW), Limit("ip:1", 5, WINDOW)]
        for _ in range(3):
            self.r(accounts.reserve(limits, T0))
        self.r(accounts.release(["cuenta:x", "ip:1"]))
        self.assertEqual(self.r(accounts.attempts("cuenta:x")), (2, T0))
        self.assertEqual(self.r(accounts.attempts("ip:1")), (2, T0))
        self.r(accounts.release(["cuenta:x", "ip:1"], clear=["cuenta:x"]))
        self.assertIsNone(self.r(accounts.attempts("cuenta:x")))
        self.assertEqual(self.r(accounts.attempts("ip:1")), (1, T0))
        for _ in range(3):
            self.r(accounts.release(["ip:1"]))
        self.assertEqual(self.r(accounts.attempts("ip:1")), (0, T0))

    def test_concurrentReservations(self):
        """
        Twenty transactions on their own connections race for five attempts: five win.
        """
        engine = self.store.engine.execution_options(juego_begin="BEGIN IMMEDIATE")
        barrier = threading.Barrier(20)
        limit = Limit("cuenta:x", 5, WINDOW)

        def race(_: int) -> bool:
            barrier.wait()
            with engine.begin() as conn:
                return accountsModule._take(conn, limit, T0) is None

        with ThreadPoolExecutor(20) as pool:
            won = list(pool.map(race, range(20)))
        self.assertEqual(won.count(True), 5)
        self.assertEqual(self.r(self.store.accounts.attempts("cuenta:x")), (5, T0))

    def test_devices(self):
        accounts = self.store.accounts
        self.r(accounts.addDevice("d" * 64, self.user.id, T0))
        self.assertEqual(
            self.r(accounts.deviceUser("d" * 64, T0 - timedelta(days=1))), self.user.id
        )
        self.assertIsNone(self.r(accounts.deviceUser("d" * 64, T0)))
        self.assertIsNone(self.r(accounts.deviceUser("e" * 64, T0 - timedelta(days=1))))
        self.r(accounts.touchDevice("d" * 64, T0 + timedelta(days=2)))
        self.assertEqual(
            self.r(accounts.deviceUser("d" * 64, T0 + timedelta(days=1))), self.user.id
        )

    def test_purge(self):
        accounts = self.store.accounts
        self.r(accounts.reserve([Limit("ip:1", 5, WINDOW)], T0))
        self.r(accounts.reserve([Limit("ip:2", 5, WINDOW)], T0 + timedelta(minutes=10)))
        self.r(accounts.addDevice("d" * 64, self.user.id, T0))
        self.r(accounts.addDevice("e" * 64, self.user.id, T0 + timedelta(days=2)))
        self.r(accounts.createSession("a" * 64, self.user.id, T0, T0 + timedelta(hours=1)))
        self.r(accounts.createSession("b" * 64, self.user.id, T0, T0 + timedelta(days=1)))
        self.r(
            accounts.purge(
                T0 + timedelta(hours=2), T0 + timedelta(minutes=7), T0 + timedelta(days=1)
            )
        )
        self.assertIsNone(self.r(accounts.attempts("ip:1")))
        self.assertIsNotNone(self.r(accounts.attempts("ip:2")))
        self.assertIsNone(self.r(accounts.deviceUser("d" * 64, T0 - timedelta(days=1))))
        self.assertIsNotNone(self.r(accounts.deviceUser("e" * 64, T0)))
        self.assertIsNone(self.r(accounts.session("a" * 64, T0)))
        self.assertIsNotNone(self.r(accounts.session("b" * 64, T0)))

    def test_devicesGoWithTheirAccount(self):
        self.r(self.store.accounts.addDevice("d" * 64, self.user.id, T0))
        self.assertTrue(self.r(self.store.scores.deleteUser(self.user.id)))
        self.assertIsNone(self.r(self.store.accounts.deviceUser("d" * 64, T0 - timedelta(days=1))))

    # partidas and the outbox

    def partida(self, pid="p1", emitida=T0):
        p = Partida(pid, self.user.id, "es", 2**62 + 5, emitida)
        self.r(self.store.partidas.create(p))
        return p

    def test_partidaLifecycle(self):
        p = self.partida()
        self.assertEqual(self.r(self.store.partidas.get("p1")), p)
        self.assertIsNone(self.r(self.store.partidas.get("nope")))
        payload = {"user_id": self.user.id, "puntaje": 7, "partida_id": "p1"}
        result = Verified(7, 42.5, 0.9, 3000)
        outboxID = self.r(self.store.partidas.closeSaved(p, T0, result, "save_score", payload, T0))
        self.assertIsNotNone(outboxID)
        # Closed otherwise: nothing more is written.
        self.assertFalse(self.r(self.store.partidas.closeInvalid(p, T0, "x")))
        self.assertFalse(self.r(self.store.partidas.closeDiscarded(p, T0)))
        self.assertEqual(self.r(self.store.partidas.get("p1")).cerrada, T0)
        [game] = self.r(self.store.partidas.games(self.user.id))
        self.assertEqual(
            (game.id, game.puntaje, game.wpm, game.precision, game.fecha), ("p1", 7, 42.5, 0.9, T0)
        )
        [row] = self.r(self.store.partidas.pending())
        self.assertEqual(
            (row.id, row.kind, row.payload, row.intentos), (outboxID, "save_score", payload, 0)
        )

    def test_invalidNotListed(self):
        p = self.partida()
        self.assertTrue(self.r(self.store.partidas.closeInvalid(p, T0, "regla")))
        self.assertEqual(self.r(self.store.partidas.games(self.user.id)), [])

    def test_gamesNewestFirstAndForget(self):
        for i in range(3):
            p = self.partida(f"p{i}")
            self.r(
                self.store.partidas.closeSaved(
                    p,
                    T0 + timedelta(minutes=i),
                    Verified(i, 1.0, 1.0, 1),
                    "save_score",
                    {},
                    T0,
                )
            )
        self.partida("abierta")
        self.assertEqual(
            [g.id for g in self.r(self.store.partidas.games(self.user.id, 2))], ["p2", "p1"]
        )
        self.r(self.store.partidas.forgetGames(self.user.id))
        self.assertEqual(self.r(self.store.partidas.games(self.user.id)), [])
        self.assertIsNotNone(self.r(self.store.partidas.get("abierta")))

    def test_purgeStale(self):
        self.partida("vieja", T0 - timedelta(days=2))
        self.partida("nueva", T0)
        self.r(self.store.partidas.purgeStale(T0 - timedelta(days=1)))
        self.assertIsNone(self.r(self.store.partidas.get("vieja")))
        self.assertIsNotNone(self.r(self.store.partidas.get("nueva")))

    def test_outboxClaims(self):
        partidas = self.store.partidas
        first = self.r(partidas.enqueue("k", {"n": 1}, T0, T0))
        second = self.r(partidas.enqueue("k", {"n": 2}, T0, T0 + timedelta(seconds=10)))
        claimed = self.r(partidas.claimDue(T0, T0 + timedelta(seconds=5)))
        self.assertEqual([c.id for c in claimed], [first])
        self.assertEqual(
            self.r(partidas.claimDue(T0 + timedelta(seconds=1), T0 + timedelta(seconds=6))), []
        )
        later = self.r(partidas.claimDue(T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)))
        self.assertEqual([c.id for c in later], [first, second])
        self.r(partidas.retryLater(first, 3, T0 + timedelta(seconds=30)))
        follow = self.r(partidas.complete(second, ("otro", {"n": 3}), T0, T0))
        rows = {r.id: r for r in self.r(partidas.pending())}
        self.assertEqual(set(rows), {first, follow})
        self.assertEqual(rows[first].intentos, 3)
        self.assertEqual(rows[follow].payload, {"n": 3})
        self.assertIsNone(self.r(partidas.complete(first)))
        self.assertEqual([r.id for r in self.r(partidas.pending())], [follow])

    # users

    def test_profileAndAdmin(self):
        users = self.store.users
        updated = self.r(users.updateProfile(self.user.id, nombre="<b>Ana</b>", bio="hola"))
        self.assertEqual((updated.nombre, updated.bio), ("<b>Ana</b>", "hola"))
        self.assertEqual(self.r(users.updateProfile(self.user.id)).nombre, "<b>Ana</b>")
        self.assertIsNone(self.r(users.updateProfile(999, nombre="x")))
        self.assertTrue(self.r(users.setAdmin(self.user.id)))
        self.assertTrue(self.r(users.get(self.user.id)).es_admin)
        self.assertFalse(self.r(users.setAdmin(999)))
        self.r(users.setPasswordHash(self.user.id, "nuevo"))
        self.assertEqual(self.r(users.passwordHash(self.user.id)), "nuevo")
        self.assertIsNone(self.r(users.passwordHash(999)))
        [summary] = self.r(users.summaries())
        self.assertEqual(
            (summary.user.id, summary.puntaje_maximo, summary.partidas_jugadas),
            (self.user.id, 0, 0),
        )


class MigrationTestsMixin:
    def test_0003KeepsRowsAndFailures(self):
        """
        0002 -> 0003: accounts stay; each key's failures become its counter; and back.
        """
        engine = makeEngine(self.databaseURL())
        self.addCleanup(engine.dispose)
        upgrade(engine, "0002")
        failures = sa.table("login_failures", sa.column("clave"), sa.column("fecha"))
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (nombre, email, password_hash, es_admin, bio, "
                    "fecha_registro) VALUES ('Ana', 'ana@example.com', 'h', false, '', :t)"
                ),
                {"t": T0},
            )
            conn.execute(
                sa.insert(failures),
                [
                    {"clave": "cuenta:ana@example.com", "fecha": T0 + timedelta(minutes=m)}
                    for m in (1, 2, 3)
                ]
                + [{"clave": "ip:1", "fecha": T0}],
            )
        upgrade(engine)
        with engine.connect() as conn:
            self.assertEqual(
                conn.execute(sa.select(s.users.c.email)).scalars().all(), ["ana@example.com"]
            )
            rows = conn.execute(
                sa.select(
                    s.login_throttle.c.clave, s.login_throttle.c.intentos, s.login_throttle.c.desde
                ).order_by(s.login_throttle.c.clave)
            ).all()
        self.assertEqual(
            [tuple(r) for r in rows],
            [("cuenta:ana@example.com", 3, T0 + MINUTE), ("ip:1", 1, T0)],
        )
        downgrade(engine, "0002")
        with engine.connect() as conn:
            self.assertEqual(
                conn.execute(sa.text("SELECT COUNT(*) FROM login_failures")).scalar_one(), 4
            )
            self.assertEqual(conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar_one(), 1)


class SQLiteMigrationTests(MigrationTestsMixin, SQLiteMixin, SynchronousTestCase):
    pass


class PostgresMigrationTests(MigrationTestsMixin, PostgresMixin, SynchronousTestCase):
    pass


class SQLiteWebStoreTests(WebStoreTestsMixin, SQLiteMixin, SynchronousTestCase):
    pass


class PostgresWebStoreTests(WebStoreTestsMixin, PostgresMixin, SynchronousTestCase):
    pass


class FieldRuleTests(SynchronousTestCase):
    def test_nombre(self):
        self.assertEqual(checkNombre("  <b>x</b> "), "<b>x</b>")
        self.assertEqual(checkNombre("e\u0301"), "é")
        for bad in ["", "   ", "x" * 41, "a\x00b", None, 3]:
            self.assertRaises(InvalidField, checkNombre, bad)

    def test_email(self):
        self.assertEqual(checkEmail(" A@B.Co "), "a@b.co")
        for bad in ["a", "a@b", "a b@c.d", "@b.c", "x" * 250 + "@b.co", None]:
            self.assertRaises(InvalidField, checkEmail, bad)

    def test_password(self):
        for good in [
            "contraseña-larga",
            "tortuga azul bajo la lluvia",
            "Tr0ub4dor&3",
            "ñandú-x9!kq",
        ]:
            self.assertEqual(checkPassword(good), good)
        for bad in [
            "1234567",
            "x" * 1025,
            None,
            " " * 8,
            "\t \n " * 4,
            "12345678",
            "password1",
            "qwertyuiop",
            "aaaaaaaaaaaa",
        ]:
            e = self.assertRaises(InvalidField, checkPassword, bad)
            self.assertEqual(e.campo, "password")
        # A long password is judged by its start (zxcvbn refuses more than 72 characters).
        self.assertEqual(checkPassword("tortuga azul " + "x" * 1000), "tortuga azul " + "x" * 1000)

    def test_passwordReasons(self):
        cases = [
            ("12345678", "más usadas"),
            ("asdfghjkl;", "teclado"),
            ("aaaaaaaaaaaa", "repite"),
            ("        ", "solo espacios"),
        ]
        for password, reason in cases:
            self.assertIn(reason, str(self.assertRaises(InvalidField, checkPassword, password)))
        # The account's own name and email are guessable too.
        checkPassword("anabelgarcia77")
        e = self.assertRaises(
            InvalidField, checkPassword, "anabelgarcia77", ["Anabel", "anabelgarcia@example.com"]
        )
        self.assertIn("tu nombre o tu correo", str(e))

    def test_bio(self):
        self.assertEqual(checkBio(" a\nb "), "a\nb")
        for bad in ["x" * 501, "a\x07", 5]:
            self.assertRaises(InvalidField, checkBio, bad)


def downgrade(engine, revision):
    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)
