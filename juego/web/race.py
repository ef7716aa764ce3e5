"""
Races on the web node: the players' race sockets (C{GET /api/carrera/ws}), relayed to the
rooms' owner (L{juego.race.owner}), and the owner's snapshots relayed back to the sockets
of the rooms' racers on this node.

The node is where a racer is trusted no further than the socket's session: it moves only
that player, caps the progress by the race's words, issues the racer's partida with the
room's seed (L{juego.web.game.Games.issueForRace}) and reports the racer's end from the
verified partida stored by C{POST /api/guardar_puntaje}, never from what the page claims.

Messages from the page (JSON text, at most L{MAX_MESSAGE} bytes, L{RATE} a second):

  {"tipo": "buscar", "idioma": "es"}        quick match
  {"tipo": "crear", "idioma": "es"}         a private room
  {"tipo": "unirse", "sala": "<codigo>"}    into a room, or back into it
  {"tipo": "empezar"}                        the host starts the countdown
  {"tipo": "progreso", "palabra": i, "letras": k}
                                             words done, letters of the next one typed
  {"tipo": "fin"}                            the result is saved: count it

To the page: C{{"tipo": "sala", "sala": {...}, "yo": id}} on every change of the room,
C{{"tipo": "partida", "partida": {...}}} once the race starts (the race's words), and
C{{"tipo": "error", "code": ..., "message": ...}}; past L{MAX_STRIKES} bad messages the
socket closes (1008).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.websocket import WebSocketResource, WebSocketTransport

from juego.game import IDIOMAS, draw_words, longitud, verify
from juego.game.verifier import MAX_MS
from juego.model import User
from juego.race.rooms import CARRERA, CUENTA, INVALID
from juego.store import Store
from juego.web.game import Games
from juego.web.modes import NORMAL, partidaFields

log = Logger()

#: Largest message a page may send, in bytes.
MAX_MESSAGE = 512
#: Messages a second a socket may send (a burst of as many is allowed).
RATE = 20.0
#: Bad messages (wrong shape, too big, too fast) before the socket is closed.
MAX_STRIKES = 10
POLICY_VIOLATION = 1008
GOING_AWAY = 1001

TOO_FAST = "demasiados_mensajes"
TOO_BIG = "mensaje_demasiado_grande"
NOT_SAVED = "resultado_no_guardado"
UNAVAILABLE = "servicio_no_disponible"


def publicRoom(snapshot: dict[str, Any]) -> dict[str, Any]:
    """
    A room as a page sees it: never the seed (the words come with the start).
    """
    return {k: v for k, v in snapshot.items() if k != "seed"}


class _Racing:
    """
    A racer's partida on this node: its id and the race's words.
    """

    def __init__(self, partida: dict[str, Any], words: int) -> None:
        self.partida = {**partida, "palabras": partida["palabras"][:words]}
        self.words = self.partida["palabras"]
        lengths = [longitud(w) for w in self.words]
        self.before = [sum(lengths[:i]) for i in range(len(lengths) + 1)]
        self.lengths = lengths

    @property
    def id(self) -> str:
        return str(self.partida["id"])

    def progress(self, palabra: int, letras: int) -> float:
        """
        0-100 from words done and letters typed of the next: capped by the race's words.
        """
        total = self.before[-1] or 1
        palabra = min(palabra, len(self.words))
        letras = 0 if palabra == len(self.words) else min(letras, self.lengths[palabra])
        return 100.0 * (self.before[palabra] + letras) / total


class RaceSocket:
    """
    One player's race socket.
    """

    transport: WebSocketTransport | None = None

    def __init__(self, hub: RaceHub, user: User) -> None:
        self.hub = hub
        self.user = user
        self.sala: str | None = None
        self.strikes = 0
        self.tokens = RATE
        self.last = hub.clock.seconds()
        self.closed = False
        self.lastProgress = -1.0

    # WebSocket protocol

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        self.hub.sockets.add(self)

    def pongReceived(self, payload: bytes) -> None:
        pass

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        self.error(INVALID, "Los mensajes deben ser texto JSON.")

    def textMessageReceived(self, message: str) -> None:
        if not self._admit():
            return
        if len(message.encode("utf-8")) > MAX_MESSAGE:
            self.error(TOO_BIG, f"Mensaje demasiado grande (máximo {MAX_MESSAGE} bytes).")
            return
        try:
            data = json.loads(message)
        except ValueError:
            data = None
        tipo = data.get("tipo") if isinstance(data, dict) else None
        handler = self.hub.handlers.get(tipo) if isinstance(tipo, str) else None
        if handler is None:
            self.error(INVALID, "Mensaje no válido: se esperaba un objeto JSON con «tipo».")
            return
        assert isinstance(data, dict)
        d = ensureDeferred(handler(self, data))
        d.addErrback(self._failed)

    def connectionLost(self, reason: Failure) -> None:
        self.closed = True
        self.hub.sockets.discard(self)
        self.hub.left(self)

    # helpers

    def _admit(self) -> bool:
        now = self.hub.clock.seconds()
        self.tokens = min(RATE, self.tokens + (now - self.last) * RATE)
        self.last = now
        if self.tokens < 1:
            self.error(TOO_FAST, "Demasiados mensajes: espera un momento.")
            return False
        self.tokens -= 1
        return True

    def _failed(self, failure: Failure) -> None:
        log.failure("a race message failed", failure)
        self.send({"tipo": "error", "code": UNAVAILABLE, "message": "No se pudo completar."})

    def send(self, message: dict[str, Any]) -> None:
        self.sendText(json.dumps(message, ensure_ascii=False))

    def sendText(self, text: str) -> None:
        if self.transport is not None and not self.closed:
            self.transport.sendTextMessage(text)

    def error(self, code: str, message: str, strike: bool = True) -> None:
        self.send({"tipo": "error", "code": code, "message": message})
        if strike:
            self.strikes += 1
            if self.strikes >= MAX_STRIKES:
                self.close(POLICY_VIOLATION)

    def close(self, code: int = GOING_AWAY) -> None:
        if self.transport is not None and not self.closed:
            self.transport.loseConnection(code)


class _Factory:
    def __init__(self, hub: RaceHub, user: User) -> None:
        self._hub = hub
        self._user = user

    def buildProtocol(self, request: IRequest) -> RaceSocket:
        return RaceSocket(self._hub, self._user)


class RaceHub:
    """
    This node's race sockets, the racers' partidas it issued, and the relay to the owner.
    """

    def __init__(self, owner: Any, games: Games, store: Store, clock: IReactorTime) -> None:
        self.owner = owner
        self.games = games
        self.store = store
        self.clock = clock
        self.sockets: set[RaceSocket] = set()
        #: (sala, user id) -> the racer's partida issued (or adopted) here.
        self.racing: dict[tuple[str, int], _Racing] = {}
        self._issuing: dict[tuple[str, int], Deferred[Any]] = {}
        self.rooms: dict[str, dict[str, Any]] = {}
        self._bySala: dict[str, set[RaceSocket]] = {}
        self.handlers = {
            "buscar": self.onBuscar,
            "crear": self.onCrear,
            "unirse": self.onUnirse,
            "empezar": self.onEmpezar,
            "progreso": self.onProgreso,
            "fin": self.onFin,
        }
        owner.listen(self.event)
        owner.onFeed = self.resync

    def resourceFor(self, user: User) -> WebSocketResource:
        return WebSocketResource(_Factory(self, user))

    def start(self) -> None:
        self.owner.start()

    def stop(self) -> Any:
        self.closeSockets()
        return self.owner.stop()

    def closeSockets(self) -> None:
        for socket in list(self.sockets):
            socket.close()

    def openSockets(self) -> int:
        return len(self.sockets)

    def _in(self, sala: str) -> list[RaceSocket]:
        return list(self._bySala.get(sala, ()))

    def _place(self, socket: RaceSocket, sala: str | None) -> None:
        """
        Index the socket under its room (each event goes to its room's sockets only).
        """
        if socket.sala is not None:
            here = self._bySala.get(socket.sala)
            if here is not None:
                here.discard(socket)
                if not here:
                    del self._bySala[socket.sala]
        socket.sala = sala
        if sala is not None:
            self._bySala.setdefault(sala, set()).add(socket)

    # the page's messages

    async def _enter(self, socket: RaceSocket, action: str, **fields: Any) -> None:
        reply = await self.owner.call(
            action, user_id=socket.user.id, nombre=socket.user.nombre, **fields
        )
        if not reply.get("success"):
            socket.error(str(reply.get("code", INVALID)), str(reply.get("error", "")), strike=False)
            return
        snapshot = reply["sala"]
        sala: str = snapshot["codigo"]
        self._place(socket, sala)
        self.rooms[sala] = snapshot
        socket.send({"tipo": "sala", "sala": publicRoom(snapshot), "yo": socket.user.id})
        partida = reply.get("partida")
        key = (sala, socket.user.id)
        if partida is not None and key not in self.racing:
            self.racing[key] = self._adopt(snapshot, partida)
        self._prepare(snapshot)

    def _idioma(self, socket: RaceSocket, data: dict[str, Any]) -> str | None:
        idioma = data.get("idioma", IDIOMAS[0])
        if idioma not in IDIOMAS:
            socket.error(INVALID, f"«idioma» debe ser uno de: {', '.join(IDIOMAS)}.")
            return None
        return str(idioma)

    async def onBuscar(self, socket: RaceSocket, data: dict[str, Any]) -> None:
        idioma = self._idioma(socket, data)
        if idioma is not None:
            await self._enter(socket, "race_quick", idioma=idioma)

    async def onCrear(self, socket: RaceSocket, data: dict[str, Any]) -> None:
        idioma = self._idioma(socket, data)
        if idioma is not None:
            await self._enter(socket, "race_create", idioma=idioma)

    async def onUnirse(self, socket: RaceSocket, data: dict[str, Any]) -> None:
        sala = data.get("sala")
        if not isinstance(sala, str) or not 0 < len(sala) <= 32:
            socket.error(INVALID, "Falta el código de la sala («sala»).")
            return
        await self._enter(socket, "race_join", sala=sala)

    def _mine(self, socket: RaceSocket) -> str | None:
        if socket.sala is None:
            socket.error(INVALID, "Primero entra en una sala.")
        return socket.sala

    async def _tell(self, socket: RaceSocket, action: str, **fields: Any) -> dict[str, Any]:
        reply: dict[str, Any] = await self.owner.call(action, user_id=socket.user.id, **fields)
        if not reply.get("success"):
            socket.error(str(reply.get("code", INVALID)), str(reply.get("error", "")), strike=False)
        return reply

    async def onEmpezar(self, socket: RaceSocket, data: dict[str, Any]) -> None:
        sala = self._mine(socket)
        if sala is not None:
            await self._tell(socket, "race_start", sala=sala)

    async def onProgreso(self, socket: RaceSocket, data: dict[str, Any]) -> None:
        sala = self._mine(socket)
        if sala is None:
            return
        palabra, letras = data.get("palabra"), data.get("letras")
        if not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 10_000
            for n in (palabra, letras)
        ):
            socket.error(INVALID, "«palabra» y «letras» deben ser enteros no negativos.")
            return
        assert isinstance(palabra, int) and isinstance(letras, int)
        racing = self.racing.get((sala, socket.user.id))
        if racing is None:
            socket.error(INVALID, "La carrera aún no ha empezado.", strike=False)
            return
        progreso = round(racing.progress(palabra, letras), 1)
        if progreso <= socket.lastProgress:
            return
        socket.lastProgress = progreso
        await self._tell(socket, "race_progress", sala=sala, progreso=progreso)

    async def onFin(self, socket: RaceSocket, data: dict[str, Any]) -> None:
        """
        The page saved its result: count the verified one that the database keeps.
        """
        sala = self._mine(socket)
        if sala is None:
            return
        racing = self.racing.get((sala, socket.user.id))
        eventos = None if racing is None else await verifiedEvents(self.store, racing.id)
        if racing is None or eventos is None:
            socket.error(NOT_SAVED, "Tu resultado aún no está guardado y verificado.", strike=False)
            return
        snapshot = self.rooms[sala]
        words = draw_words(snapshot["seed"], snapshot["idioma"])[: len(racing.words)]
        counted = eventos[: len(words)]
        result = verify(words, counted, MAX_MS)
        completa = len(counted) == len(words) and (result.vidas_restantes or 0) > 0
        await self._tell(
            socket,
            "race_finish",
            sala=sala,
            completa=completa,
            puntaje=result.puntaje,
            wpm=result.wpm,
            progreso=round(racing.progress(len(counted), 0), 1),
        )

    def left(self, socket: RaceSocket) -> None:
        sala = socket.sala
        self._place(socket, None)
        if sala is None or any(s.user.id == socket.user.id for s in self._in(sala)):
            return
        d = self.owner.call("race_leave", sala=sala, user_id=socket.user.id)
        # The owner unreachable (or this node stopping): the room marks the racer out
        # by itself, or is gone with the owner.
        d.addErrback(
            lambda f: log.warn(
                "could not tell the rooms' owner that a racer left: {error}", error=f.value
            )
        )

    # the owner's events

    def event(self, snapshot: dict[str, Any]) -> None:
        sala = snapshot.get("codigo")
        sockets = self._in(sala) if isinstance(sala, str) else []
        if not sockets:
            self.rooms.pop(sala, None)  # type: ignore[arg-type]
            return
        assert isinstance(sala, str)
        self.rooms[sala] = snapshot
        # Encoded once for the room's sockets on this node (only "yo" differs).
        body = json.dumps(publicRoom(snapshot), ensure_ascii=False)
        for socket in sockets:
            socket.sendText(f'{{"tipo": "sala", "yo": {int(socket.user.id)}, "sala": {body}}}')
        self._prepare(snapshot)

    def _prepare(self, snapshot: dict[str, Any]) -> None:
        """
        In the countdown, issue the local racers' partidas; at the start, hand them over.
        """
        sala = snapshot["codigo"]
        if snapshot["estado"] not in (CUENTA, CARRERA):
            return
        racers = {r["id"] for r in snapshot["corredores"]}
        for socket in self._in(sala):
            key = (sala, socket.user.id)
            if socket.user.id not in racers:
                continue
            if key not in self.racing and key not in self._issuing:
                d = ensureDeferred(self._issue(socket.user, snapshot))
                self._issuing[key] = d
                d.addErrback(lambda f: log.failure("issuing a race partida", f))
                d.addBoth(self._issued, key)
            elif snapshot["estado"] == CARRERA and key in self.racing:
                self._handOver(socket, key)

    def _issued(self, result: object, key: tuple[str, int]) -> None:
        self._issuing.pop(key, None)

    def _handOver(self, socket: RaceSocket, key: tuple[str, int]) -> None:
        racing = self.racing[key]
        if getattr(socket, "handedOver", None) != racing.id:
            socket.handedOver = racing.id  # type: ignore[attr-defined]
            socket.send({"tipo": "partida", "partida": racing.partida})

    async def _issue(self, user: User, snapshot: dict[str, Any]) -> None:
        sala = snapshot["codigo"]
        partida = await self.games.issueForRace(user, snapshot["idioma"], snapshot["seed"])
        reply = await self.owner.call(
            "race_partida", sala=sala, user_id=user.id, partida_id=str(partida["id"])
        )
        if not reply.get("success"):
            return
        kept = reply.get("partida")
        racing = (
            _Racing(partida, snapshot["palabras"])
            if kept == partida["id"]
            else self._adopt(snapshot, kept)
        )
        self.racing[(sala, user.id)] = racing
        latest = self.rooms.get(sala, snapshot)
        if latest["estado"] == CARRERA:
            for socket in self._in(sala):
                if socket.user.id == user.id:
                    self._handOver(socket, (sala, user.id))

    def _adopt(self, snapshot: dict[str, Any], partidaID: Any) -> _Racing:
        """
        A partida another node (or an earlier socket) issued to this racer.
        """
        return _Racing(
            # As juego.web.game issues it: a race's partida is a normal game.
            partidaFields(partidaID, snapshot["idioma"], snapshot["seed"], NORMAL),
            snapshot["palabras"],
        )

    def resync(self) -> None:
        """
        The owner's feed is back (perhaps the owner restarted): every local racer joins
        again, which answers the room as it is now, or that it is gone.
        """
        for socket in list(self.sockets):
            if socket.sala is not None:
                d = ensureDeferred(self._enter(socket, "race_join", sala=socket.sala))
                d.addErrback(lambda f: log.failure("rejoining a race", f))


async def verifiedEvents(store: Store, partidaID: str) -> list[dict[str, Any]] | None:
    """
    The verified events of a saved partida, or L{None} while it has none (not saved, or
    refused).
    """
    return await store.partidas.eventos(partidaID)
