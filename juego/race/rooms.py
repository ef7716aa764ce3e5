"""
Race rooms: who races, when the race starts, how far each racer is, and the finishing
order. The one owner of every room (juego-dist, L{juego.race.service}) keeps them here and
orders their events; web nodes only relay their players' sockets.

Nothing here trusts a player: the web node that holds a racer's socket moves only that
racer, caps its progress by the race's words, and reports its end from the verified,
saved partida (L{Rooms.finish}); a verified result also corrects the racer's progress.

A room: C{espera} (waiting for players) -> C{cuenta} (the countdown, timed here) ->
C{carrera} -> C{terminada}. Every change is published as the room's snapshot
(L{Room.snapshot}) to C{publish}. A race is C{terminada} only once every verified
result in it is stored (C{record}): a page that sees it over and reads the player's races
finds this one there.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from juego.game import IDIOMAS, new_seed

#: Racers in a room.
MIN_RACERS = 2
MAX_RACERS = 8
#: Words of a race: the first ones of the room's shared seed.
RACE_WORDS = 12
#: Seconds of the countdown (quick-match players may still join during it).
COUNTDOWN = 5.0
#: Seconds a disconnected racer has to come back before being marked out.
RECONNECT_GRACE = 5.0
#: Seconds a race may last; past it, whoever has not finished is out.
MAX_RACE = 300.0
#: Seconds a finished room stays (so a late page can see its results).
KEEP_FINISHED = 120.0
#: Rooms one owner keeps at most (a bound on memory whatever the players do).
MAX_ROOMS = 10_000

ESPERA, CUENTA, CARRERA, TERMINADA = "espera", "cuenta", "carrera", "terminada"
#: A racer's states.
CORRIENDO, DESCONECTADO, TERMINADO, FUERA = "corriendo", "desconectado", "terminado", "fuera"

#: The error codes (and their Spanish messages) a racer's action may meet.
NO_ROOM = "sala_no_encontrada"
FULL = "sala_llena"
STARTED = "carrera_empezada"
FINISHED = "carrera_terminada"
NOT_HOST = "no_anfitrion"
NOT_RACING = "no_en_carrera"
INVALID = "invalid_request"
BUSY = "demasiadas_salas"


class RaceError(Exception):
    """
    An action the room refuses: C{code} for machines, C{message} in Spanish.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


@attrs.define
class Racer:
    id: int
    nombre: str
    estado: str = CORRIENDO
    progreso: float = 0.0
    #: The verified result (L{Rooms.finish}), once saved.
    tiempo_ms: int | None = None
    puntaje: int | None = None
    wpm: float | None = None
    #: The order in which verified results arrived (ties of time).
    llegada: int | None = None
    partida: str | None = None
    wasRacing: str = CORRIENDO
    timer: IDelayedCall | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "nombre": self.nombre,
            "estado": self.estado,
            "progreso": round(self.progreso, 1),
            "tiempo_ms": self.tiempo_ms,
            "puntaje": self.puntaje,
            "wpm": self.wpm,
        }


@attrs.define
class Room:
    codigo: str
    idioma: str
    seed: int
    privada: bool
    anfitrion: int | None
    palabras: int = RACE_WORDS
    estado: str = ESPERA
    racers: dict[int, Racer] = attrs.field(factory=dict)
    #: Server time (seconds, the owner's clock) the race starts at, once counting down.
    salida: float | None = None
    timer: IDelayedCall | None = None
    arrivals: int = 0
    #: Verified results still being stored (L{Rooms.record}): the race ends only once
    #: none is, so that whoever sees it over finds every result in the players' races.
    storing: int = 0

    def order(self) -> list[Racer]:
        """
        The finishing order: those who finished, in the order their verified results
        arrived, then the others by progress.
        """
        done = sorted(
            (r for r in self.racers.values() if r.estado == TERMINADO),
            key=lambda r: r.llegada or 0,
        )
        rest = sorted(
            (r for r in self.racers.values() if r.estado != TERMINADO),
            key=lambda r: (-r.progreso, r.id),
        )
        return done + rest

    def snapshot(self, now: float) -> dict[str, Any]:
        """
        The room as the web nodes see it (the seed included: they issue the partidas;
        they never pass it on to players).
        """
        return {
            "codigo": self.codigo,
            "estado": self.estado,
            "privada": self.privada,
            "anfitrion": self.anfitrion,
            "idioma": self.idioma,
            "seed": self.seed,
            "palabras": self.palabras,
            "faltan_ms": (
                max(0, round((self.salida - now) * 1000))
                if self.salida is not None and self.estado == CUENTA
                else None
            ),
            "corredores": [r.public() for r in self.order()],
            "orden": ([r.id for r in self.order()] if self.estado == TERMINADA else None),
        }


def _code() -> str:
    return secrets.token_urlsafe(6)


class Rooms:
    """
    Every room of this owner.

    @param publish: called with each changed room's snapshot.
    """

    def __init__(
        self,
        clock: IReactorTime,
        publish: Callable[[dict[str, Any]], None],
        words: int = RACE_WORDS,
        countdown: float = COUNTDOWN,
        grace: float = RECONNECT_GRACE,
        maxRooms: int = MAX_ROOMS,
        record: Callable[[Room, Racer, int | None], Deferred[Any] | None] | None = None,
    ) -> None:
        self.clock = clock
        self.publish = publish
        #: Told each verified result as it arrives, with its finishing place (L{None}
        #: for a racer out): the owner stores it at once, and answers a L{Deferred}
        #: that fires once it is stored (and never fails: a failure is logged there).
        self.record = record
        self.words = words
        self.countdown = countdown
        self.grace = grace
        self.maxRooms = maxRooms
        self.rooms: dict[str, Room] = {}

    # -- helpers

    def _room(self, codigo: object) -> Room:
        room = self.rooms.get(codigo) if isinstance(codigo, str) else None
        if room is None:
            raise RaceError(NO_ROOM, "Esa sala no existe o ya se cerró.")
        return room

    def _racer(self, room: Room, userID: int) -> Racer:
        racer = room.racers.get(userID)
        if racer is None:
            raise RaceError(NOT_RACING, "No estás en esa sala.")
        return racer

    def _changed(self, room: Room) -> None:
        self.publish(room.snapshot(self.clock.seconds()))

    def _new(self, idioma: str, privada: bool, anfitrion: int | None) -> Room:
        if idioma not in IDIOMAS:
            raise RaceError(INVALID, f"«idioma» debe ser uno de: {', '.join(IDIOMAS)}.")
        if len(self.rooms) >= self.maxRooms:
            raise RaceError(BUSY, "Hay demasiadas salas abiertas. Inténtalo en un momento.")
        codigo = _code()
        while codigo in self.rooms:  # pragma: no cover - 48 random bits
            codigo = _code()
        room = Room(codigo, idioma, new_seed(), privada, anfitrion, self.words)
        self.rooms[codigo] = room
        return room

    def _cancel(self, timer: IDelayedCall | None) -> None:
        if timer is not None and timer.active():
            timer.cancel()

    def _schedule(self, room: Room, delay: float, work: Callable[[Room], None]) -> None:
        self._cancel(room.timer)
        room.timer = self.clock.callLater(delay, work, room)

    # -- actions

    def create(self, userID: int, nombre: str, idioma: str) -> dict[str, Any]:
        """
        A private room, with its creator in it as host.
        """
        room = self._new(idioma, True, userID)
        return self._join(room, userID, nombre)

    def quickMatch(self, userID: int, nombre: str, idioma: str) -> dict[str, Any]:
        """
        Into the open quick-match room of that language that takes players (one waiting,
        or counting down), or a new one; a player already racing in one is back in it.
        """
        for room in self.rooms.values():
            if userID in room.racers and room.estado != TERMINADA and not room.privada:
                return self._join(room, userID, nombre)
        for room in self.rooms.values():
            if (
                not room.privada
                and room.idioma == idioma
                and room.estado in (ESPERA, CUENTA)
                and len(room.racers) < MAX_RACERS
            ):
                return self._join(room, userID, nombre)
        return self._join(self._new(idioma, False, None), userID, nombre)

    def join(self, codigo: object, userID: int, nombre: str) -> dict[str, Any]:
        return self._join(self._room(codigo), userID, nombre)

    def _join(self, room: Room, userID: int, nombre: str) -> dict[str, Any]:
        racer = room.racers.get(userID)
        if racer is not None:
            # Back (another tab, a reload, a dropped connection) within the grace period.
            if racer.estado == DESCONECTADO:
                self._cancel(racer.timer)
                racer.timer = None
                racer.estado = racer.wasRacing
            self._changed(room)
            return {"sala": room.snapshot(self.clock.seconds()), "partida": racer.partida}
        if room.estado == TERMINADA:
            raise RaceError(FINISHED, "Esa carrera ya ha terminado.")
        if room.estado == CARRERA:
            raise RaceError(STARTED, "Esa carrera ya ha empezado.")
        if len(room.racers) >= MAX_RACERS:
            raise RaceError(FULL, "La sala está llena.")
        room.racers[userID] = Racer(userID, nombre)
        if not room.privada and room.estado == ESPERA and len(room.racers) >= MIN_RACERS:
            self._countDown(room)
        elif room.estado == CUENTA and len(room.racers) >= MAX_RACERS:
            self._go(room)
        self._changed(room)
        return {"sala": room.snapshot(self.clock.seconds()), "partida": None}

    def start(self, codigo: object, userID: int) -> None:
        """
        The host of a private room starts the countdown.
        """
        room = self._room(codigo)
        if room.anfitrion != userID:
            raise RaceError(NOT_HOST, "Solo quien creó la sala puede empezar la carrera.")
        if room.estado != ESPERA:
            raise RaceError(STARTED, "La carrera ya ha empezado.")
        present = [r for r in room.racers.values() if r.estado != DESCONECTADO]
        if len(present) < MIN_RACERS:
            raise RaceError(INVALID, f"Hacen falta al menos {MIN_RACERS} corredores.")
        self._countDown(room)
        self._changed(room)

    def _countDown(self, room: Room) -> None:
        room.estado = CUENTA
        room.salida = self.clock.seconds() + self.countdown
        self._schedule(room, self.countdown, self._goAndPublish)

    def _goAndPublish(self, room: Room) -> None:
        self._go(room)
        self._changed(room)

    def _go(self, room: Room) -> None:
        room.estado = CARRERA
        room.salida = self.clock.seconds()
        self._schedule(room, MAX_RACE, self._timeUp)

    def _timeUp(self, room: Room) -> None:
        for racer in room.racers.values():
            if racer.estado in (CORRIENDO, DESCONECTADO):
                self._cancel(racer.timer)
                racer.estado = FUERA
        self._maybeOver(room)
        self._changed(room)

    def setPartida(self, codigo: object, userID: int, partidaID: str) -> str:
        """
        The partida a web node issued to this racer (handed back to the racer's page
        should it come back through another node): the first one stays, and is answered.
        """
        racer = self._racer(self._room(codigo), userID)
        if racer.partida is None:
            racer.partida = partidaID
        return racer.partida

    def progress(self, codigo: object, userID: int, progreso: float) -> None:
        """
        How far this racer is (0-100): it only moves forwards, and only while racing.
        """
        room = self._room(codigo)
        racer = self._racer(room, userID)
        if room.estado != CARRERA or racer.estado != CORRIENDO:
            return
        progreso = min(100.0, max(0.0, float(progreso)))
        if progreso > racer.progreso:
            racer.progreso = progreso
            self._changed(room)

    def finish(
        self,
        codigo: object,
        userID: int,
        completa: bool,
        puntaje: int,
        wpm: float,
        progreso: float,
    ) -> None:
        """
        The racer's verified, saved result: C{completa} when every word of the race was
        typed, otherwise the racer is out where the verified result left them. The order
        is the order in which verified results arrive here (the racer's time: since the
        start, on this clock), so no client's clock counts.
        """
        room = self._room(codigo)
        racer = self._racer(room, userID)
        if room.estado not in (CARRERA, TERMINADA):
            raise RaceError(NOT_RACING, "La carrera no ha empezado.")
        if racer.puntaje is not None:
            # One result a racer (one marked out by the clock may still bring theirs).
            raise RaceError(INVALID, "Ese resultado ya se registró.")
        self._cancel(racer.timer)
        room.arrivals += 1
        racer.llegada = room.arrivals
        assert room.salida is not None
        racer.tiempo_ms = max(0, round((self.clock.seconds() - room.salida) * 1000))
        racer.puntaje = puntaje
        racer.wpm = wpm
        racer.progreso = 100.0 if completa else min(100.0, max(0.0, progreso))
        racer.estado = TERMINADO if completa else FUERA
        if self.record is not None:
            place = sum(r.estado == TERMINADO for r in room.racers.values()) if completa else None
            stored = self.record(room, racer, place)
            if stored is not None and not stored.called:
                room.storing += 1
                stored.addBoth(self._stored, room)
        self._maybeOver(room)
        if not (room.estado == TERMINADA and room.storing):
            # (A result that comes after the end is shown once stored: L{_stored}.)
            self._changed(room)

    def _stored(self, result: object, room: Room) -> None:
        """
        A verified result of C{room} is stored: the race may be over now (and a result
        that came after its end is shown).
        """
        room.storing -= 1
        if room.storing or self.rooms.get(room.codigo) is not room:
            return
        self._maybeOver(room)
        if room.estado == TERMINADA:
            self._changed(room)

    def leave(self, codigo: object, userID: int) -> None:
        """
        The racer's socket went: marked away, and out (or, before the race, removed)
        unless back within the grace period.
        """
        room = self.rooms.get(codigo) if isinstance(codigo, str) else None
        if room is None or userID not in room.racers:
            return
        racer = room.racers[userID]
        if racer.estado not in (CORRIENDO,) or room.estado == TERMINADA:
            return
        racer.wasRacing = racer.estado
        racer.estado = DESCONECTADO
        racer.timer = self.clock.callLater(self.grace, self._gone, room, userID)
        self._changed(room)

    def _gone(self, room: Room, userID: int) -> None:
        racer = room.racers.get(userID)
        if racer is None or racer.estado != DESCONECTADO:
            return
        racer.timer = None
        if room.estado in (ESPERA, CUENTA):
            del room.racers[userID]
            if room.anfitrion == userID:
                room.anfitrion = min(room.racers, default=None)
            if not room.racers:
                self._close(room)
                return
            if room.estado == CUENTA and len(room.racers) < MIN_RACERS:
                self._cancel(room.timer)
                room.estado, room.salida = ESPERA, None
        else:
            racer.estado = FUERA
            self._maybeOver(room)
        self._changed(room)

    def _maybeOver(self, room: Room) -> None:
        if (
            room.estado == CARRERA
            and not room.storing
            and all(r.estado in (TERMINADO, FUERA) for r in room.racers.values())
        ):
            room.estado = TERMINADA
            self._schedule(room, KEEP_FINISHED, self._close)

    def _close(self, room: Room) -> None:
        self._cancel(room.timer)
        for racer in room.racers.values():
            self._cancel(racer.timer)
        self.rooms.pop(room.codigo, None)

    def closeAll(self) -> None:
        for room in list(self.rooms.values()):
            self._close(room)
