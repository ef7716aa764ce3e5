"""
Races at the WebSocket level: the web node's race sockets (L{juego.web.race}) over the
in-process owner, the real application and its store, on a Clock. The attacks: moving
another racer, claiming progress beyond the race, finishing without a verified result,
bad, oversized and too many messages, joining a full or finished room.
"""

from __future__ import annotations

import json

from juego.race import rooms as R
from juego.web import race as W
from tests.keystrokes import playedEvents
from tests.websupport import WebTestCase


class FakeTransport:
    def __init__(self):
        self.sent = []
        self.closed = None

    def sendTextMessage(self, text):
        self.sent.append(json.loads(text))

    def loseConnection(self, code=1000):
        self.closed = code


class Player:
    def __init__(self, case, nombre):
        self.case = case
        self.client, user = case.signUp(nombre)
        self.user = case.successResultOf(case.store.users.get(user["id"]))
        self.id = self.user.id
        self.connect()

    @classmethod
    def again(cls, case, player):
        """
        The same player, signed in already, with a new socket.
        """
        again = cls.__new__(cls)
        again.case, again.client, again.user, again.id = case, player.client, player.user, player.id
        again.connect()
        return again

    def connect(self):
        races = self.case.app.races
        self.socket = races.resourceFor(self.user).factory.buildProtocol(None)
        self.transport = FakeTransport()
        self.socket.negotiationStarted(self.transport)
        self.socket.negotiationFinished()

    def say(self, message):
        self.socket.textMessageReceived(
            message if isinstance(message, str) else json.dumps(message)
        )

    def last(self, tipo):
        found = [m for m in self.transport.sent if m["tipo"] == tipo]
        return found[-1] if found else None

    def room(self):
        return self.last("sala")["sala"]

    def me(self, userID=None):
        wanted = self.id if userID is None else userID
        return next(r for r in self.room()["corredores"] if r["id"] == wanted)

    def save(self, n):
        partida = self.last("partida")["partida"]
        events = playedEvents(partida["palabras"], n, seed=self.id)
        self.case.clock.advance(events[-1]["t"] / 1000 + 1)
        reply = self.client.post(
            "/api/guardar_puntaje", {"partida_id": partida["id"], "eventos": events}
        )
        self.case.assertEqual(reply.status, 200, reply.body)
        return reply.json


def started(case, *names):
    """
    Players in a quick-match room, past its countdown.
    """
    players = [Player(case, name) for name in names]
    for player in players:
        player.say({"tipo": "buscar", "idioma": "es"})
    case.clock.advance(R.COUNTDOWN)
    return players


class RaceSocketTests(WebTestCase):
    def test_raceToTheEnd(self):
        ana, bea = started(self, "Ana", "Bea")
        self.assertEqual(ana.room()["codigo"], bea.room()["codigo"])
        self.assertEqual(ana.room()["estado"], R.CARRERA)
        self.assertNotIn("seed", ana.room())  # the words come with the start, not before
        # One shared seed, a partida each, the race's words only.
        pa, pb = ana.last("partida")["partida"], bea.last("partida")["partida"]
        self.assertEqual(pa["palabras"], pb["palabras"])
        self.assertEqual(len(pa["palabras"]), R.RACE_WORDS)
        self.assertNotEqual(pa["id"], pb["id"])
        # Progress goes to the others.
        ana.say({"tipo": "progreso", "palabra": 3, "letras": 1})
        self.assertGreater(bea.me(ana.id)["progreso"], 0)
        self.assertEqual(bea.me()["progreso"], 0)
        # No finish without a verified, saved result.
        bea.say({"tipo": "fin"})
        self.assertEqual(bea.last("error")["code"], W.NOT_SAVED)
        self.assertEqual(bea.me()["estado"], R.CORRIENDO)
        saved = ana.save(R.RACE_WORDS)
        ana.say({"tipo": "fin"})
        self.assertEqual(bea.me(ana.id)["estado"], R.TERMINADO)
        self.assertEqual(bea.me(ana.id)["puntaje"], saved["puntaje"])
        bea.save(4)  # typed a few words and stopped: out, where its result left it
        bea.say({"tipo": "fin"})
        final = ana.room()
        self.assertEqual(final["estado"], R.TERMINADA)
        self.assertEqual(final["orden"], [ana.id, bea.id])
        self.assertEqual(bea.me()["estado"], R.FUERA)
        self.assertLess(bea.me()["progreso"], 50)
        # Both results are ordinary saved games, in the players' history.
        for player in (ana, bea):
            games = player.client.get("/api/perfil").json
            self.assertEqual(len(games["partidas"]), 1, games)
        # A second "fin" is refused, and a finished room takes no one.
        ana.say({"tipo": "fin"})
        self.assertEqual(ana.last("error")["code"], R.INVALID)
        late = Player(self, "Tarde")
        late.say({"tipo": "unirse", "sala": final["codigo"]})
        self.assertEqual(late.last("error")["code"], R.FINISHED)

    def test_progressIsCappedAndOnlyTheRacersOwn(self):
        ana, bea = started(self, "Ana", "Bea")
        # Naming another racer changes nothing: the socket's player is the one moved.
        ana.say({"tipo": "progreso", "palabra": 1, "letras": 0, "user_id": bea.id})
        self.assertEqual(bea.me()["progreso"], 0)
        self.assertGreater(bea.me(ana.id)["progreso"], 0)
        # Letters beyond the word count as the word; words beyond the race as the race.
        words = ana.last("partida")["partida"]["palabras"]
        ana.say({"tipo": "progreso", "palabra": 2, "letras": 999})
        total = sum(len(w) for w in words)
        expected = round(100 * sum(len(w) for w in words[:3]) / total, 1)
        self.assertEqual(bea.me(ana.id)["progreso"], expected)
        self.clock.advance(1)
        ana.say({"tipo": "progreso", "palabra": 10_000, "letras": 0})
        self.assertEqual(bea.me(ana.id)["progreso"], 100)
        # A claim finishes nothing: only the verified result does.
        self.assertEqual(bea.me(ana.id)["estado"], R.CORRIENDO)

    def test_progressBeforeTheStart(self):
        ana = Player(self, "Ana")
        ana.say({"tipo": "progreso", "palabra": 1, "letras": 0})
        self.assertEqual(ana.last("error")["code"], R.INVALID)
        ana.say({"tipo": "crear", "idioma": "es"})
        ana.say({"tipo": "progreso", "palabra": 1, "letras": 0})
        self.assertEqual(ana.last("error")["message"], "La carrera aún no ha empezado.")

    def test_badMessagesThenClosed(self):
        ana = Player(self, "Ana")
        bad = [
            "no es json",
            "[]",
            json.dumps({"tipo": "volar"}),
            json.dumps({"tipo": "buscar", "idioma": "klingon"}),
            json.dumps({"tipo": "unirse"}),
            json.dumps({"tipo": "progreso", "palabra": -1, "letras": 0}),
            json.dumps({"tipo": "buscar", "relleno": "x" * W.MAX_MESSAGE}),
        ]
        for message in bad:
            self.clock.advance(1)
            ana.say(message)
            self.assertEqual(ana.transport.sent[-1]["tipo"], "error", message)
        self.assertEqual(ana.transport.sent[-1]["code"], W.TOO_BIG)
        ana.socket.bytesMessageReceived(b"\x00")
        self.assertIsNone(ana.transport.closed)
        ana.say("{")
        ana.say("{")
        self.assertEqual(ana.transport.closed, W.POLICY_VIOLATION)

    def test_tooFastThenClosed(self):
        ana = Player(self, "Ana")
        for _ in range(int(W.RATE)):
            ana.say({"tipo": "volar"})  # 20 bad ones: 10 strikes close it...
        self.assertEqual(ana.transport.closed, W.POLICY_VIOLATION)
        bea = Player(self, "Bea")
        bea.say({"tipo": "crear", "idioma": "es"})
        codigo = bea.room()["codigo"]
        for _ in range(int(W.RATE) - 1):
            bea.say({"tipo": "unirse", "sala": codigo})  # good ones, too many a second
        self.assertNotEqual(bea.transport.sent[-1]["tipo"], "error")
        bea.say({"tipo": "unirse", "sala": codigo})
        self.assertEqual(bea.transport.sent[-1]["code"], W.TOO_FAST)
        self.clock.advance(1)  # the allowance refills
        bea.say({"tipo": "unirse", "sala": codigo})
        self.assertEqual(bea.transport.sent[-1]["tipo"], "sala")

    def test_fullRoomRefused(self):
        host = Player(self, "Host")
        host.say({"tipo": "crear", "idioma": "en"})
        codigo = host.room()["codigo"]
        for i in range(R.MAX_RACERS - 1):
            Player(self, f"P{i}").say({"tipo": "unirse", "sala": codigo})
        self.assertEqual(len(host.room()["corredores"]), R.MAX_RACERS)
        extra = Player(self, "Extra")
        extra.say({"tipo": "unirse", "sala": codigo})
        self.assertEqual(extra.last("error")["code"], R.FULL)
        extra.say({"tipo": "empezar"})
        self.assertEqual(extra.last("error")["message"], "Primero entra en una sala.")

    def test_privateRoomHostStarts(self):
        host, guest = Player(self, "Host"), Player(self, "Guest")
        host.say({"tipo": "crear", "idioma": "es"})
        codigo = host.room()["codigo"]
        self.assertTrue(host.room()["privada"])
        guest.say({"tipo": "unirse", "sala": codigo})
        guest.say({"tipo": "empezar"})
        self.assertEqual(guest.last("error")["code"], R.NOT_HOST)
        host.say({"tipo": "empezar"})
        self.assertEqual(guest.room()["estado"], R.CUENTA)
        self.assertIsNone(guest.last("partida"))
        self.clock.advance(R.COUNTDOWN)
        self.assertEqual(guest.last("partida")["partida"]["idioma"], "es")

    def test_reconnectGoesOnWithTheSamePartida(self):
        ana, bea = started(self, "Ana", "Bea")
        partida = ana.last("partida")["partida"]
        ana.say({"tipo": "progreso", "palabra": 2, "letras": 0})
        ana.socket.connectionLost(None)
        self.assertEqual(bea.me(ana.id)["estado"], R.DESCONECTADO)
        self.clock.advance(R.RECONNECT_GRACE / 2)
        ana.connect()
        ana.say({"tipo": "unirse", "sala": bea.room()["codigo"]})
        self.assertEqual(bea.me(ana.id)["estado"], R.CORRIENDO)
        self.assertEqual(ana.last("partida")["partida"]["id"], partida["id"])
        self.clock.advance(R.RECONNECT_GRACE)
        self.assertEqual(bea.me(ana.id)["estado"], R.CORRIENDO)
        ana.save(R.RACE_WORDS)
        ana.say({"tipo": "fin"})
        self.assertEqual(bea.me(ana.id)["estado"], R.TERMINADO)

    def test_goneIsOut(self):
        ana, bea = started(self, "Ana", "Bea")
        bea.socket.connectionLost(None)
        self.clock.advance(R.RECONNECT_GRACE)
        self.assertEqual(ana.me(bea.id)["estado"], R.FUERA)

    def test_drainingClosesSockets(self):
        ana = Player(self, "Ana")
        self.app.startDraining()
        self.assertEqual(ana.transport.closed, W.GOING_AWAY)


class EndpointTests(WebTestCase):
    HEADERS = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }

    def test_needsSession(self):
        reply = self.client().get("/api/carrera/ws", headers=self.HEADERS)
        self.assertEqual((reply.status, reply.json["code"]), (401, "no_autenticado"))

    def test_foreignOrigin(self):
        client, _ = self.signUp()
        reply = client.get(
            "/api/carrera/ws", headers={**self.HEADERS, "Origin": "http://evil.example"}
        )
        self.assertEqual((reply.status, reply.json["code"]), (403, "csrf"))

    def test_notAnUpgrade(self):
        client, _ = self.signUp()
        reply = client.get("/api/carrera/ws")
        self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))

    def test_pages(self):
        self.assertEqual(self.client().get("/carrera").status, 302)
        self.assertEqual(
            self.client().get("/carrera/abc").header("location"), "/login?next=/carrera/abc"
        )
        client, _ = self.signUp()
        page = client.get("/carrera/<b>")
        self.assertEqual(page.status, 200)
        for needed in (b'id="buscar-carrera"', b'id="crear-sala"', b'id="palabra-actual"',
                       b'id="entrada"', b'id="resultado-carrera"', b'data-sala="&lt;b&gt;"'):  # fmt: skip
            self.assertIn(needed, page.body)
        self.assertIn(b'id="buscar-carrera"', client.get("/carrera").body)


class TwoNodesTests(WebTestCase):
    """
    Two web nodes (two applications over one database) and one owner: racers on either
    node share a room; a result saved through one node counts for a racer whose socket
    is on the other.
    """

    def test_racersOnTwoNodes(self):
        other = self.buildApplication(raceOwner=self.app.races.owner)
        self.addCleanup(other.close)
        ana = Player(self, "Ana")
        bea = Player(self, "Bea")
        races = self.app.races
        self.app.races = other.races  # bea's socket is on the other node
        bea.connect()
        self.app.races = races
        ana.say({"tipo": "buscar", "idioma": "en"})
        bea.say({"tipo": "buscar", "idioma": "en"})
        self.assertEqual(ana.room()["codigo"], bea.room()["codigo"])
        self.clock.advance(R.COUNTDOWN)
        self.assertEqual(
            ana.last("partida")["partida"]["palabras"], bea.last("partida")["partida"]["palabras"]
        )
        bea.say({"tipo": "progreso", "palabra": 5, "letras": 0})
        self.assertGreater(ana.me(bea.id)["progreso"], 0)
        bea.save(R.RACE_WORDS)  # through the first node's HTTP API
        bea.say({"tipo": "fin"})
        ana.save(R.RACE_WORDS)
        ana.say({"tipo": "fin"})
        self.assertEqual(ana.room()["orden"], [bea.id, ana.id])
        self.assertEqual(bea.room()["orden"], [bea.id, ana.id])


class HubEdgeTests(WebTestCase):
    def test_ownerUnavailable(self):
        from twisted.internet import defer

        from juego.clients import ServiceUnavailable

        ana = Player(self, "Ana")
        self.patch(
            self.app.races.owner, "call", lambda *a, **kw: defer.fail(ServiceUnavailable("caído"))
        )
        ana.say({"tipo": "buscar", "idioma": "es"})
        self.assertEqual(ana.last("error")["code"], W.UNAVAILABLE)
        self.assertEqual(len(self.flushLoggedErrors(ServiceUnavailable)), 1)

    def test_lifecycleAndResync(self):
        races = self.app.races
        races.start()
        ana, bea = Player(self, "Ana"), Player(self, "Bea")
        ana.socket.pongReceived(b"")
        self.assertEqual(races.openSockets(), 2)
        ana.say({"tipo": "crear", "idioma": "es"})
        codigo = ana.room()["codigo"]
        ana.say({"tipo": "fin"})  # before the race: nothing saved
        self.assertEqual(ana.last("error")["code"], W.NOT_SAVED)
        # A second socket of the same player: the first closing does not make it leave.
        first = ana.socket
        ana.connect()
        ana.say({"tipo": "unirse", "sala": codigo})
        first.connectionLost(None)
        self.assertEqual(ana.me()["estado"], R.CORRIENDO)
        # The owner lost its rooms (a restarted juego-dist): the feed comes back, the
        # node joins its racers again, and they hear the room is gone.
        races.owner.actions.rooms.closeAll()
        races.resync()
        self.assertEqual(ana.last("error")["code"], R.NO_ROOM)
        self.assertIsNone(bea.last("error"))
        races.stop()
        self.assertEqual(ana.transport.closed, W.GOING_AWAY)

    def test_badProgressAndRepeats(self):
        ana, bea = started(self, "Ana", "Bea")
        ana.say({"tipo": "progreso", "palabra": "3", "letras": 0})
        self.assertEqual(ana.last("error")["code"], R.INVALID)
        ana.say({"tipo": "progreso", "palabra": True, "letras": 0})
        self.assertEqual(len([m for m in ana.transport.sent if m["tipo"] == "error"]), 2)
        ana.say({"tipo": "progreso", "palabra": 1, "letras": 0})
        seen = len(bea.transport.sent)
        ana.say({"tipo": "progreso", "palabra": 1, "letras": 0})  # no change: not relayed
        ana.say({"tipo": "progreso", "palabra": 0, "letras": 2})  # backwards: not relayed
        self.assertEqual(len(bea.transport.sent), seen)

    def test_backThroughAnotherNodeAdoptsThePartida(self):
        other = self.buildApplication(raceOwner=self.app.races.owner)
        self.addCleanup(other.close)
        ana, bea = started(self, "Ana", "Bea")
        partida = ana.last("partida")["partida"]
        ana.socket.connectionLost(None)
        races = self.app.races
        self.app.races = other.races
        ana.connect()
        self.app.races = races
        ana.say({"tipo": "unirse", "sala": bea.room()["codigo"]})
        self.assertEqual(ana.last("partida")["partida"], partida)
        ana.save(R.RACE_WORDS)
        ana.say({"tipo": "fin"})
        self.assertEqual(bea.me(ana.id)["estado"], R.TERMINADO)


class RaceRecordsTests(WebTestCase):
    """
    Each verified result is stored as it reaches its room (a restart of the owner loses
    none): the player's races and the board of race wins by period.
    """

    def race(self, *names, finish=None):
        players = started(self, *names)
        for player in finish or players:
            player.save(R.RACE_WORDS)
            player.say({"tipo": "fin"})
        return players

    def test_racesAndWins(self):
        ana, bea = self.race("Ana", "Bea")
        # Stored at once, before the owner could lose its rooms.
        self.app.races.owner.actions.rooms.closeAll()
        mine = ana.client.get("/api/carreras").json["carreras"]
        self.assertEqual(len(mine), 1)
        self.assertEqual((mine[0]["posicion"], mine[0]["corredores"]), (1, 2))
        self.assertEqual(mine[0]["partida_id"], ana.last("partida")["partida"]["id"])
        self.assertGreater(mine[0]["puntaje"], 0)
        self.assertEqual(bea.client.get("/api/carreras").json["carreras"][0]["posicion"], 2)
        # A racer who did not type every word has no place.
        carl, dani = started(self, "Carl", "Dani")
        carl.save(R.RACE_WORDS)
        carl.say({"tipo": "fin"})
        dani.save(3)
        dani.say({"tipo": "fin"})
        self.assertIsNone(dani.client.get("/api/carreras").json["carreras"][0]["posicion"])
        # Ana wins again tomorrow: today's board and the week's differ from ever's.
        self.clock.advance(86_400)
        ana2, bea2 = Player.again(self, ana), Player.again(self, bea)
        for player in (ana2, bea2):
            player.say({"tipo": "buscar", "idioma": "es"})
        self.clock.advance(R.COUNTDOWN)
        for player in (ana2, bea2):
            player.save(R.RACE_WORDS)
            player.say({"tipo": "fin"})
        client = self.client()
        board = client.get("/api/carreras/ganadores").json
        self.assertEqual(board["periodo"], "siempre")
        self.assertEqual(
            [(r["nombre"], r["victorias"]) for r in board["ganadores"]], [("Ana", 2), ("Carl", 1)]
        )
        today = client.get("/api/carreras/ganadores?periodo=dia").json["ganadores"]
        self.assertEqual([(r["nombre"], r["victorias"]) for r in today], [("Ana", 1)])
        reply = client.get("/api/carreras/ganadores?periodo=mes")
        self.assertEqual((reply.status, reply.json["code"]), (400, "invalid_request"))
        self.assertEqual(self.client().get("/api/carreras").status, 401)
        self.assertEqual(len(ana.client.get("/api/carreras?limit=1").json["carreras"]), 1)

    def test_recordedOnce(self):
        from juego.web.clock import utcnow

        store = self.store.races
        self.successResultOf(self.store.users.create("x", "x@example.com", "h"))
        self.assertTrue(self.successResultOf(store.record("p", "s", 1, 1, 2, utcnow(self.clock))))
        self.assertFalse(self.successResultOf(store.record("p", "s", 1, 1, 2, utcnow(self.clock))))


class UpgradeTests(WebTestCase):
    def test_upgradeTurnsNagleOff(self):
        """
        The race socket's connection sends each small frame at once (no Nagle delay).
        """
        from twisted.internet.defer import ensureDeferred, succeed
        from twisted.web.test.requesthelper import DummyRequest
        from twisted.web.websocket import WebSocketResource

        _, user = self.signUp()
        found = self.successResultOf(self.store.users.get(user["id"]))
        self.patch(self.app.api.auth, "requireUser", lambda request: succeed(found))
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"upgrade", [b"websocket"])
        calls = []

        class Transport:
            setTcpNoDelay = calls.append

        request.transport = Transport()
        resource = self.successResultOf(ensureDeferred(self.app.carreraEnVivo(request)))
        self.assertIsInstance(resource, WebSocketResource)
        self.assertEqual(calls, [True])
