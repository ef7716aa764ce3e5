"""
The race rooms' logic (L{juego.race.rooms}) and the owner's actions
(L{juego.race.service}), on a Clock: quick match, private rooms, the countdown, progress,
the finishing order, disconnection and its grace, and every refusal.
"""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from juego.race import rooms as R
from juego.race.rooms import RaceError, Rooms
from juego.race.service import DistRaces, RaceActions, RaceOutlet


class RoomTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.events = []
        self.rooms = Rooms(self.clock, self.events.append)

    def last(self):
        return self.events[-1]

    def racer(self, snapshot, userID):
        return next(r for r in snapshot["corredores"] if r["id"] == userID)

    def started(self, *users):
        """
        A quick-match room with C{users}, past its countdown.
        """
        for user in users:
            codigo = self.rooms.quickMatch(user, f"u{user}", "es")["sala"]["codigo"]
        self.clock.advance(R.COUNTDOWN)
        self.assertEqual(self.last()["estado"], R.CARRERA)
        return codigo

    def assertRefused(self, code, f, *args):
        error = self.assertRaises(RaceError, f, *args)
        self.assertEqual(error.code, code)
        return error

    def test_quickMatchSharesARoomAndCountsDown(self):
        first = self.rooms.quickMatch(1, "ana", "es")["sala"]
        self.assertEqual(first["estado"], R.ESPERA)
        second = self.rooms.quickMatch(2, "bea", "es")["sala"]
        self.assertEqual(second["codigo"], first["codigo"])
        self.assertEqual((second["estado"], second["faltan_ms"]), (R.CUENTA, 5000))
        # Another language is another room; a third player joins during the countdown.
        other = self.rooms.quickMatch(3, "carl", "en")["sala"]
        self.assertNotEqual(other["codigo"], first["codigo"])
        self.clock.advance(2)
        third = self.rooms.quickMatch(4, "dani", "es")["sala"]
        self.assertEqual((third["codigo"], third["faltan_ms"]), (first["codigo"], 3000))
        self.clock.advance(2.9)
        self.assertEqual(self.last()["estado"], R.CUENTA)
        self.clock.advance(0.1)
        self.assertEqual(self.last()["estado"], R.CARRERA)
        # Once started, it takes no one: a new player gets a new room.
        self.assertRefused(R.STARTED, self.rooms.join, first["codigo"], 5, "eva")
        self.assertNotEqual(
            self.rooms.quickMatch(5, "eva", "es")["sala"]["codigo"], first["codigo"]
        )

    def test_fullRoomStartsAtOnceAndRefusesMore(self):
        codigo = None
        for user in range(R.MAX_RACERS):
            codigo = self.rooms.quickMatch(user, f"u{user}", "es")["sala"]["codigo"]
        self.assertEqual(self.last()["estado"], R.CARRERA)
        self.assertEqual(len(self.last()["corredores"]), R.MAX_RACERS)
        room = self.rooms.rooms[codigo]
        room.estado = R.CUENTA  # even during a countdown, a full room refuses
        self.assertRefused(R.FULL, self.rooms.join, codigo, 99, "x")

    def test_privateRoomHostStarts(self):
        codigo = self.rooms.create(1, "ana", "es")["sala"]["codigo"]
        self.assertRefused(R.INVALID, self.rooms.start, codigo, 1)  # alone
        self.rooms.join(codigo, 2, "bea")
        self.assertEqual(self.last()["estado"], R.ESPERA)  # no quick start in a private one
        self.assertRefused(R.NOT_HOST, self.rooms.start, codigo, 2)
        self.rooms.start(codigo, 1)
        self.assertEqual(self.last()["estado"], R.CUENTA)
        self.assertRefused(R.STARTED, self.rooms.start, codigo, 1)
        self.assertRefused(R.NO_ROOM, self.rooms.join, "nada", 3, "x")
        self.assertRefused(R.INVALID, self.rooms.create, 1, "ana", "fr")

    def test_progressOnlyForwardsOnlyWhileRacingCapped(self):
        codigo = self.rooms.quickMatch(1, "ana", "es")["sala"]["codigo"]
        self.rooms.quickMatch(2, "bea", "es")
        self.rooms.progress(codigo, 1, 50)  # the countdown: not yet
        self.assertEqual(self.racer(self.last(), 1)["progreso"], 0)
        self.clock.advance(R.COUNTDOWN)
        self.rooms.progress(codigo, 1, 40)
        self.rooms.progress(codigo, 1, 30)
        self.assertEqual(self.racer(self.last(), 1)["progreso"], 40)
        self.rooms.progress(codigo, 1, 1e6)
        self.assertEqual(self.racer(self.last(), 1)["progreso"], 100)
        self.assertEqual(self.racer(self.last(), 2)["progreso"], 0)
        self.assertRefused(R.NOT_RACING, self.rooms.progress, codigo, 3, 10)

    def test_finishingOrderIsTheOrderOfVerifiedResults(self):
        codigo = self.started(1, 2, 3)
        self.rooms.progress(codigo, 3, 100)  # a claim: it orders nothing
        self.clock.advance(10)
        self.rooms.finish(codigo, 2, True, 120, 61.5, 100)
        self.clock.advance(1.5)
        self.rooms.finish(codigo, 1, True, 130, 70.0, 100)
        self.assertEqual(self.last()["estado"], R.CARRERA)
        self.rooms.finish(codigo, 3, False, 40, 30.0, 35)  # lost its lives
        final = self.last()
        self.assertEqual(final["estado"], R.TERMINADA)
        self.assertEqual(final["orden"], [2, 1, 3])
        self.assertEqual(self.racer(final, 2)["tiempo_ms"], 10000)
        self.assertEqual(self.racer(final, 1)["tiempo_ms"], 11500)
        # The verified result corrects the claim.
        self.assertEqual(
            (self.racer(final, 3)["estado"], self.racer(final, 3)["progreso"]), (R.FUERA, 35)
        )
        self.assertRefused(R.INVALID, self.rooms.finish, codigo, 2, True, 1, 1.0, 100)
        self.assertRefused(R.FINISHED, self.rooms.join, codigo, 9, "late")
        # Back to see it: the racer is answered the room as it is.
        self.assertEqual(self.rooms.join(codigo, 1, "ana")["sala"]["orden"], [2, 1, 3])
        self.clock.advance(R.KEEP_FINISHED)
        self.assertEqual(self.rooms.rooms, {})

    def test_finishBeforeTheStartRefused(self):
        codigo = self.rooms.create(1, "ana", "es")["sala"]["codigo"]
        self.assertRefused(R.NOT_RACING, self.rooms.finish, codigo, 1, True, 1, 1.0, 100)

    def test_reconnectWithinTheGraceGoesOn(self):
        codigo = self.started(1, 2)
        self.rooms.setPartida(codigo, 1, "p1")
        self.assertEqual(self.rooms.setPartida(codigo, 1, "other"), "p1")  # the first stays
        self.rooms.leave(codigo, 1)
        self.assertEqual(self.racer(self.last(), 1)["estado"], R.DESCONECTADO)
        self.clock.advance(R.RECONNECT_GRACE - 0.1)
        back = self.rooms.join(codigo, 1, "ana")
        self.assertEqual(back["partida"], "p1")
        self.assertEqual(self.racer(back["sala"], 1)["estado"], R.CORRIENDO)
        self.clock.advance(1)
        self.assertEqual(self.racer(self.last(), 1)["estado"], R.CORRIENDO)
        self.rooms.progress(codigo, 1, 20)
        self.assertEqual(self.racer(self.last(), 1)["progreso"], 20)

    def test_goneRacerMarkedOutAndTheRaceEnds(self):
        codigo = self.started(1, 2)
        self.rooms.finish(codigo, 2, True, 100, 50.0, 100)
        self.rooms.leave(codigo, 1)
        self.clock.advance(R.RECONNECT_GRACE)
        final = self.last()
        self.assertEqual((final["estado"], self.racer(final, 1)["estado"]), (R.TERMINADA, R.FUERA))
        self.assertEqual(final["orden"], [2, 1])
        # Its verified result may still come, and counts (after those who finished first).
        self.rooms.finish(codigo, 1, True, 90, 40.0, 100)
        self.assertEqual(self.last()["orden"], [2, 1])
        self.assertEqual(self.racer(self.last(), 1)["estado"], R.TERMINADO)

    def storing(self):
        """
        Rooms whose results are stored when the test says (C{self.stores}: the
        L{Deferred} of each record, in order).
        """
        self.stores = []
        self.recorded = []

        def record(room, racer, place):
            self.recorded.append((racer.id, place))
            d = Deferred()
            self.stores.append(d)
            return d

        self.rooms = Rooms(self.clock, self.events.append, record=record)

    def test_theRaceEndsOnceEveryResultIsStored(self):
        """
        A page that sees the race over reads the player's races: the race is not over
        until every result in it is stored.
        """
        self.storing()
        codigo = self.started(1, 2)
        self.rooms.finish(codigo, 1, True, 130, 70.0, 100)
        self.rooms.finish(codigo, 2, True, 120, 61.5, 100)
        self.assertEqual(self.recorded, [(1, 1), (2, 2)])
        # Both results show at once; the race goes on while they are being stored.
        shown = self.last()
        self.assertEqual(shown["estado"], R.CARRERA)
        self.assertEqual([r["estado"] for r in shown["corredores"]], [R.TERMINADO] * 2)
        published = len(self.events)
        self.stores[1].callback(True)
        self.assertEqual(len(self.events), published)  # one still being stored
        self.assertEqual(self.rooms.rooms[codigo].estado, R.CARRERA)
        self.stores[0].callback(True)
        final = self.last()
        self.assertEqual((final["estado"], final["orden"]), (R.TERMINADA, [1, 2]))
        self.assertEqual(len(self.events), published + 1)

    def test_aResultAfterTheEndShowsOnceStored(self):
        self.storing()
        codigo = self.started(1, 2)
        self.rooms.finish(codigo, 2, True, 100, 50.0, 100)
        self.stores[0].callback(True)
        self.rooms.leave(codigo, 1)
        self.clock.advance(R.RECONNECT_GRACE)
        self.assertEqual(self.last()["estado"], R.TERMINADA)
        # Its verified result still comes: shown once stored, not before.
        published = len(self.events)
        self.rooms.finish(codigo, 1, True, 90, 40.0, 100)
        self.assertEqual(len(self.events), published)
        self.stores[1].callback(False)
        self.assertEqual(self.racer(self.last(), 1)["estado"], R.TERMINADO)
        self.assertEqual(len(self.events), published + 1)

    def test_aResultThatCouldNotBeStoredStillEndsTheRace(self):
        self.storing()
        codigo = self.started(1, 2)
        self.rooms.finish(codigo, 1, True, 130, 70.0, 100)
        self.rooms.finish(codigo, 2, False, 20, 30.0, 10)
        self.assertEqual(self.recorded, [(1, 1), (2, None)])
        self.stores[0].callback(True)
        self.stores[1].errback(RuntimeError("the database is gone"))
        self.assertEqual(self.last()["estado"], R.TERMINADA)
        # The time limit, or the owner closing, while a result is being stored.
        codigo = self.started(3, 4)
        self.rooms.finish(codigo, 3, True, 130, 70.0, 100)
        self.clock.advance(R.MAX_RACE)
        self.assertEqual(self.rooms.rooms[codigo].estado, R.CARRERA)
        self.stores[2].callback(True)
        self.assertEqual((self.last()["estado"], self.last()["orden"]), (R.TERMINADA, [3, 4]))
        codigo = self.started(5, 6)
        self.rooms.finish(codigo, 5, True, 130, 70.0, 100)
        self.rooms.closeAll()
        published = len(self.events)
        self.stores[3].callback(True)
        self.assertEqual(len(self.events), published)

    def test_leavingBeforeTheStartRemovesAndReopens(self):
        self.rooms = Rooms(self.clock, self.events.append, grace=2)
        codigo = self.rooms.quickMatch(1, "ana", "es")["sala"]["codigo"]
        self.rooms.quickMatch(2, "bea", "es")
        self.rooms.leave(codigo, 2)
        self.clock.advance(2)
        snapshot = self.last()
        self.assertEqual((snapshot["estado"], len(snapshot["corredores"])), (R.ESPERA, 1))
        self.clock.advance(R.COUNTDOWN)  # the countdown was cancelled
        self.assertEqual(self.rooms.rooms[codigo].estado, R.ESPERA)
        self.rooms.leave(codigo, 1)
        self.rooms.leave("nada", 1)  # unknown: nothing
        self.clock.advance(2)
        self.assertNotIn(codigo, self.rooms.rooms)

    def test_hostLeavingHandsOver(self):
        codigo = self.rooms.create(1, "ana", "es")["sala"]["codigo"]
        self.rooms.join(codigo, 2, "bea")
        self.rooms.leave(codigo, 1)
        self.clock.advance(R.RECONNECT_GRACE)
        self.assertEqual(self.last()["anfitrion"], 2)

    def test_timeLimit(self):
        codigo = self.started(1, 2)
        self.rooms.progress(codigo, 1, 60)
        self.clock.advance(R.MAX_RACE)
        final = self.last()
        self.assertEqual(final["estado"], R.TERMINADA)
        self.assertEqual(final["orden"], [1, 2])

    def test_quickMatchAgainIsTheSameRoom(self):
        first = self.rooms.quickMatch(1, "ana", "es")["sala"]["codigo"]
        self.assertEqual(self.rooms.quickMatch(1, "ana", "es")["sala"]["codigo"], first)
        self.assertEqual(len(self.last()["corredores"]), 1)

    def test_boundedRooms(self):
        rooms = Rooms(self.clock, self.events.append, maxRooms=1)
        rooms.create(1, "a", "es")
        error = self.assertRaises(RaceError, rooms.create, 2, "b", "es")
        self.assertEqual(error.code, R.BUSY)


class ActionTests(SynchronousTestCase):
    """
    The owner's actions check every field.
    """

    def setUp(self):
        self.clock = Clock()
        self.events = []
        self.actions = RaceActions.on(self.clock, self.events.append)

    def refused(self, action, **fields):
        error = self.assertRaises(RaceError, self.actions.handle, action, fields)
        return error.code

    def test_actions(self):
        sala = self.actions.handle("race_create", {"user_id": 1, "nombre": "a", "idioma": "es"})
        codigo = sala["sala"]["codigo"]
        self.assertTrue(sala["success"])
        join = self.actions.handle("race_join", {"sala": codigo, "user_id": 2, "nombre": "b"})
        self.assertEqual(len(join["sala"]["corredores"]), 2)
        self.actions.handle("race_start", {"sala": codigo, "user_id": 1})
        self.clock.advance(R.COUNTDOWN)
        kept = self.actions.handle(
            "race_partida", {"sala": codigo, "user_id": 1, "partida_id": "p"}
        )
        self.assertEqual(kept, {"success": True, "partida": "p"})
        self.actions.handle("race_progress", {"sala": codigo, "user_id": 1, "progreso": 12.5})
        self.actions.handle(
            "race_finish",
            {"sala": codigo, "user_id": 1, "completa": True, "puntaje": 9, "wpm": 50,
             "progreso": 100},
        )  # fmt: skip
        self.actions.handle("race_leave", {"sala": codigo, "user_id": 2})
        quick = self.actions.handle("race_quick", {"user_id": 3, "nombre": "c", "idioma": "en"})
        self.assertFalse(quick["sala"]["privada"])
        self.assertEqual(self.events[-1]["codigo"], quick["sala"]["codigo"])

    def test_badFields(self):
        self.assertEqual(self.refused("race_quick", nombre="a", idioma="es"), R.INVALID)
        self.assertEqual(self.refused("race_quick", user_id=True, nombre="a"), R.INVALID)
        self.assertEqual(self.refused("race_quick", user_id=1, nombre="", idioma="es"), R.INVALID)
        self.assertEqual(self.refused("race_quick", user_id=1, nombre="a", idioma="xx"), R.INVALID)
        self.assertEqual(self.refused("race_join", user_id=1, nombre="a", sala="x" * 33), R.INVALID)
        self.assertEqual(
            self.refused("race_progress", user_id=1, sala="s", progreso="50"), R.INVALID
        )
        self.assertEqual(self.refused("race_other", user_id=1, sala="s"), R.INVALID)


class DistRacesTests(SynchronousTestCase):
    """
    The handlers juego-dist serves: a refusal is a wire error, and the rooms' events go
    to the race feeds.
    """

    def test_handlersAndFeed(self):
        from juego.wire import Request, WireError

        clock = Clock()
        races = DistRaces(clock)
        handlers = races.handlers()
        self.assertIn("race_subscribe", handlers)
        reply = handlers["race_quick"](Request({"user_id": 1, "nombre": "a", "idioma": "es"}))
        self.assertTrue(reply["success"])
        error = self.assertRaises(
            WireError, handlers["race_join"], Request({"user_id": 1, "nombre": "a", "sala": "x"})
        )
        self.assertEqual(error.code, R.NO_ROOM)
        published = []

        class Outlet(RaceOutlet):
            def sendRoom(self, codigo, line):
                published.append(json.loads(line))

        races.subscribers._outlets[object()] = Outlet(None, races)
        handlers["race_quick"](Request({"user_id": 2, "nombre": "b", "idioma": "es"}))
        self.assertEqual(published[-1]["event"], "race")
        self.assertEqual(len(published[-1]["sala"]["corredores"]), 2)
        races.subscribers._outlets.clear()
        races.stop(clock)
        self.assertEqual(races.actions.rooms.rooms, {})

    def test_aBusyFeedGetsEachRoomsLatest(self):
        """
        While a feed's transport is full, only each room's latest snapshot waits (in
        the order of the changes), so the backlog is bounded by the rooms.
        """
        clock = Clock()
        races = DistRaces(clock)
        written = []

        class Transport:
            def write(self, data):
                written.append(json.loads(data)["sala"])

            def registerProducer(self, producer, streaming):
                pass

            def unregisterProducer(self):
                pass

        class Protocol:
            transport = Transport()

        protocol = Protocol()
        outlet = RaceOutlet(protocol, races)
        races.subscribers.add(protocol, outlet)
        a = races.actions.rooms.create(1, "a", "es")["sala"]["codigo"]
        self.assertEqual(len(written), 1)
        outlet.pauseProducing()
        b = races.actions.rooms.create(2, "b", "es")["sala"]["codigo"]
        for user in range(3, 9):
            races.actions.rooms.join(a, user, f"u{user}")
        self.assertEqual((len(written), outlet.queued), (1, 2))
        outlet.resumeProducing()
        self.assertEqual([s["codigo"] for s in written], [a, b, a])
        self.assertEqual(len(written[-1]["corredores"]), 7)
        outlet.stopProducing()
        races.actions.rooms.join(a, 9, "late")
        self.assertEqual(len(written), 3)
