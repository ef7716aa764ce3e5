"""
The room owner's actions, as juego-dist serves them over the line protocol (and as the
in-process owner of a lone web process calls them, L{juego.race.owner.LocalOwner}).

Requests (every field checked here; a web node sends them for its own players only):

  race_quick    user_id, nombre, idioma        quick match: into a room
  race_create   user_id, nombre, idioma        a private room, its creator as host
  race_join     sala, user_id, nombre          into a room (or back into it)
  race_start    sala, user_id                  the host starts the countdown
  race_partida  sala, user_id, partida_id      the partida issued to the racer
  race_progress sala, user_id, progreso        0-100, only forwards
  race_finish   sala, user_id, completa, puntaje, wpm, progreso
                                               the verified, saved result
  race_leave    sala, user_id                  the racer's socket closed
  race_subscribe                               this connection hears every room's events

Replies: C{{"success": true, ...}} (join-like ones carry C{sala}, the room's snapshot, and
C{partida}, the racer's partida id if one was issued), or C{success: false} with C{code}
and C{error}. Events: C{{"event": "race", "sala": snapshot}} on every change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from juego.game import IDIOMAS
from juego.model import to_json
from juego.race.rooms import INVALID, RaceError, Racer, Room, Rooms
from juego.stats import EventOutlet, Subscribers
from juego.wire import WireError
from juego.wire.protocol import encodeLine

if TYPE_CHECKING:
    from juego.store import Store
    from juego.wire import Request

log = Logger()

RACE_EVENT = "race"
MAX_INT = 2**31 - 1
MAX_NAME = 100
MAX_CODE = 32
MAX_PARTIDA = 512


def _int(fields: Mapping[str, Any], name: str, maximum: int = MAX_INT) -> int:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise RaceError(INVALID, f"El campo '{name}' debe ser un entero entre 0 y {maximum}")
    return value


def _str(fields: Mapping[str, Any], name: str, maximum: int) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= maximum:
        raise RaceError(INVALID, f"El campo '{name}' debe ser un texto de 1 a {maximum} caracteres")
    return value


def _number(fields: Mapping[str, Any], name: str) -> float:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e7:
        raise RaceError(INVALID, f"El campo '{name}' debe ser un número")
    return float(value)


def _idioma(fields: Mapping[str, Any]) -> str:
    idioma = fields.get("idioma")
    if idioma not in IDIOMAS:
        raise RaceError(INVALID, f"«idioma» debe ser uno de: {', '.join(IDIOMAS)}.")
    return str(idioma)


class RaceActions:
    """
    The actions over one L{Rooms}: C{handle(action, fields)} answers a reply dict or
    raises L{RaceError}.
    """

    ACTIONS = (
        "race_quick",
        "race_create",
        "race_join",
        "race_start",
        "race_partida",
        "race_progress",
        "race_finish",
        "race_leave",
    )

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    @classmethod
    def on(
        cls, clock: IReactorTime, publish: Callable[[dict[str, Any]], None], **kw: Any
    ) -> RaceActions:
        return cls(Rooms(clock, publish, **kw))

    def handle(self, action: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        rooms = self.rooms
        user = _int(fields, "user_id")
        if action == "race_quick":
            return {"success": True, **rooms.quickMatch(user, _name(fields), _idioma(fields))}
        if action == "race_create":
            return {"success": True, **rooms.create(user, _name(fields), _idioma(fields))}
        sala = _str(fields, "sala", MAX_CODE)
        if action == "race_join":
            return {"success": True, **rooms.join(sala, user, _name(fields))}
        if action == "race_start":
            rooms.start(sala, user)
        elif action == "race_partida":
            kept = rooms.setPartida(sala, user, _str(fields, "partida_id", MAX_PARTIDA))
            return {"success": True, "partida": kept}
        elif action == "race_progress":
            rooms.progress(sala, user, _number(fields, "progreso"))
        elif action == "race_finish":
            rooms.finish(
                sala,
                user,
                fields.get("completa") is True,
                int(_number(fields, "puntaje")),
                _number(fields, "wpm"),
                _number(fields, "progreso"),
            )
        elif action == "race_leave":
            rooms.leave(sala, user)
        else:
            raise RaceError(INVALID, f"Acción desconocida: {action}")
        return {"success": True}


def _name(fields: Mapping[str, Any]) -> str:
    return _str(fields, "nombre", MAX_NAME)


def recorder(
    store: Store | None, clock: IReactorTime
) -> Callable[[Room, Racer, int | None], Deferred[Any] | None] | None:
    """
    What stores each verified race result as it reaches its room (so that a restart of
    the owner loses none), or L{None} without a store. It answers a L{Deferred} that
    fires once the result is stored (or its failure logged): the room waits for it
    before the race is over (L{juego.race.rooms.Room.storing}).
    """
    if store is None:
        return None

    def record(room: Room, racer: Racer, posicion: int | None) -> Deferred[Any] | None:
        if racer.partida is None:
            return None
        fecha = datetime.fromtimestamp(clock.seconds(), UTC)
        d: Deferred[Any] = store.races.record(
            racer.partida, room.codigo, racer.id, posicion, len(room.racers), fecha
        )
        d.addErrback(lambda f: log.failure("storing a race result", f))
        return d

    return record


class RaceOutlet(EventOutlet):
    """
    A race feed's outlet. A room's snapshot supersedes the ones before it, so while the
    feed's transport is full only the latest snapshot of each room waits: the backlog is
    bounded by the rooms (L{juego.race.rooms.MAX_ROOMS}), and a busy web node is never
    dropped for it; it gets each room as it is now once it reads again.
    """

    def __init__(self, protocol: Any, races: DistRaces, **kw: Any) -> None:
        super().__init__(protocol, **kw)
        self.races = races
        self._latest: dict[str, bytes] = {}

    @property
    def queued(self) -> int:
        return len(self._latest)

    def sendRoom(self, codigo: str, line: bytes) -> None:
        if self.dropped:
            return
        if not self.paused and not self._latest:
            self.protocol.transport.write(line)  # type: ignore[union-attr]
            return
        self._latest.pop(codigo, None)  # to the back: the order of changes is kept
        self._latest[codigo] = line

    def resumeProducing(self) -> None:
        self.paused = False
        while self._latest and not self.paused and not self.dropped:
            codigo = next(iter(self._latest))
            self.protocol.transport.write(self._latest.pop(codigo))  # type: ignore[union-attr]

    def stopProducing(self) -> None:
        self.dropped = True
        self._latest.clear()


class DistRaces:
    """
    The rooms in juego-dist: its handlers, and the connections subscribed to rooms'
    events (a web node's race feed).
    """

    def __init__(self, clock: IReactorTime, store: Store | None = None) -> None:
        self.subscribers = Subscribers()
        self.actions = RaceActions.on(clock, self.publish, record=recorder(store, clock))

    def publish(self, snapshot: dict[str, Any]) -> None:
        line = encodeLine(to_json({"event": RACE_EVENT, "sala": snapshot}))
        for outlet in self.subscribers.outlets():
            assert isinstance(outlet, RaceOutlet)
            outlet.sendRoom(snapshot["codigo"], line)

    def handlers(self) -> dict[str, Callable[[Request], Any]]:
        handlers: dict[str, Callable[[Request], Any]] = {
            action: self._handler(action) for action in RaceActions.ACTIONS
        }
        handlers["race_subscribe"] = self.subscribe
        return handlers

    def _handler(self, action: str) -> Callable[[Request], Any]:
        def handle(request: Request) -> dict[str, Any]:
            try:
                return self.actions.handle(action, request.fields)
            except RaceError as e:
                raise WireError(e.code, e.message) from None

        return handle

    def subscribe(self, request: Request) -> dict[str, Any]:
        protocol = request.connection
        self.subscribers.add(protocol, RaceOutlet(protocol, self))
        protocol.setTimeout(None)
        noDelay = getattr(protocol.transport, "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)  # the rooms' snapshots are small and must not wait
        protocol.whenClosed().addBoth(lambda _: self.subscribers.discard(protocol))
        return {"success": True, "suscrito": True}

    def stop(self, clock: IReactorTime) -> Any:
        self.actions.rooms.closeAll()
        return self.subscribers.closeAll(clock)
