"""
How a partida is played: its mode, and who plays it (an account or a guest).

Modes (the request's C{modo}):

  - C{normal}: the ranked game;
  - C{diario}: the daily challenge. Every player gets the same words for a UTC day and
    language (the seed is an HMAC of both under the service secret: nothing to store, the
    same on every node, and no one can draw tomorrow's words today); one
    attempt per player, day and language, recorded when the partida is issued (a second
    one is 409 C{ya_jugado}); otherwise an ordinary ranked game, its C{modo} kept on the
    partida so that the daily board can pick it out;
  - C{practica}: no lives (a missed word never ends it; the player stops it), verified
    and shown to the player, and sent nowhere: no score, no stat, no board.

Guests: C{/juego} plays without an account. A browser without a session gets a guest
cookie (a random token, HttpOnly; the database keeps its SHA-256 with each of its
partidas, L{juego.store.guests}). A guest's verified result is answered at once
(C{invitado: true}) and saved nowhere public; the account that signs up or logs in from
that browser within the partida's lifetime claims it (L{Guests.claim}). The daily
challenge needs an account: its one attempt a day cannot be held to a browser that may
drop its cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from juego.game import IDIOMAS, InvalidResult, MalformedEvents, draw_words, new_seed, reglas, verify
from juego.game.plausibility import RECHAZAR, RETENER, judge
from juego.game.rules import VIDAS
from juego.model import User
from juego.store import Store
from juego.store.guests import GuestPartida
from juego.store.partidas import DESCARTADA, EN_REVISION, INVALIDA, PUBLICA, Verified
from juego.web.clock import utcnow
from juego.web.errors import (
    APIError,
    Forbidden,
    InvalidRequest,
    InvalidResultError,
    NotAuthenticated,
    NotFoundError,
    PartidaClosed,
    PartidaExpired,
)
from juego.web.sessions import cookieToken, newToken, setCookie, tokenHash

log = Logger()

NORMAL = "normal"
DIARIO = "diario"
PRACTICA = "practica"
MODOS = (NORMAL, DIARIO, PRACTICA)

#: The guest cookie, and how long a browser keeps it.
GUEST_COOKIE = b"juego_invitado"
GUEST_TTL = timedelta(days=1)

GUEST_MESSAGE = "Resultado verificado. Regístrate o inicia sesión para guardar tu resultado."
PRACTICE_MESSAGE = "Partida de práctica: no cuenta en las clasificaciones ni en las estadísticas."
DISCARDED_MESSAGE = "Partida descartada: no terminó ninguna palabra, así que no cuenta."


class AlreadyPlayedError(APIError):
    status = 409
    code = "ya_jugado"
    default = (
        "Ya has jugado el desafío diario de hoy en este idioma. "
        "El siguiente empieza a medianoche (UTC)."
    )


# Modes


def checkIdioma(value: object) -> str:
    if value is None:
        return IDIOMAS[0]
    if value not in IDIOMAS:
        raise InvalidRequest(f"«idioma» debe ser uno de: {', '.join(IDIOMAS)}.")
    return str(value)


def checkModo(value: object) -> str:
    """
    The request's C{modo} (absent or null: C{normal}); 400 for anything else.
    """
    if value is None:
        return NORMAL
    if value not in MODOS:
        raise InvalidRequest(f"«modo» debe ser uno de: {', '.join(MODOS)}.")
    return str(value)


def dayOf(now: datetime) -> str:
    """
    The UTC day of C{now}, ISO (the daily challenge's key).
    """
    return now.astimezone(UTC).date().isoformat()


def nextDaily(now: datetime) -> datetime:
    """
    When the next daily challenge starts: the next UTC midnight.
    """
    tomorrow = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=UTC)


def dailySeed(dia: str, idioma: str, key: bytes | None = None) -> int:
    """
    The seed of the daily challenge of C{dia} in C{idioma}: the same for every player
    and every node, and a new one every day (fits a signed 64-bit column). C{key} is the
    service secret, which every web node shares, so that nobody can compute a coming
    day's words; without one (tests, a development run) a plain hash, which anyone can.
    """
    date.fromisoformat(dia)  # a day, nothing else
    message = f"juego:desafio-diario:{dia}:{idioma}".encode()
    if key is None:
        digest = hashlib.sha256(message).digest()
    else:
        digest = hmac.new(key, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def seedFor(modo: str, idioma: str, now: datetime, key: bytes | None = None) -> int:
    return dailySeed(dayOf(now), idioma, key) if modo == DIARIO else new_seed()


def livesFor(modo: str) -> int | None:
    """
    The lives a game starts with; C{None}: none to lose (practice).
    """
    return None if modo == PRACTICA else VIDAS


def partidaFields(partidaID: str, idioma: str, seed: int, modo: str) -> dict[str, Any]:
    """
    A partida as the client gets it.
    """
    return {
        "id": partidaID,
        "idioma": idioma,
        "modo": modo,
        "palabras": draw_words(seed, idioma),
        "vidas": livesFor(modo),
        "reglas": reglas(),
    }


def details(verified: Verified) -> dict[str, Any]:
    return {"puntaje": verified.puntaje, "wpm": verified.wpm, "precision": verified.precision}


def practiceReply(verified: Verified) -> dict[str, Any]:
    """
    The reply to a verified practice game: shown, never ranked.
    """
    return {
        **details(verified),
        "practica": True,
        "nuevo_record": False,
        "puntaje_maximo": None,
        "message": PRACTICE_MESSAGE,
    }


def discardedReply() -> dict[str, Any]:
    return {"descartada": True, "puntaje": 0, "message": DISCARDED_MESSAGE}


def verified(result: Any) -> Verified:
    return Verified(
        result.puntaje,
        result.wpm,
        result.precision,
        result.duracion_ms,
        [evento.toJSON() for evento in result.eventos],
    )


# Guests


def guestID(request: IRequest) -> str | None:
    """
    The request's guest (its guest cookie's SHA-256), if it carries one.
    """
    token = cookieToken(request, GUEST_COOKIE)
    return None if token is None else tokenHash(token)


def ensureGuest(request: IRequest) -> str:
    """
    The request's guest, made (a new guest cookie) if it carries none.
    """
    token = cookieToken(request, GUEST_COOKIE)
    if token is None:
        token = newToken()
        setCookie(request, GUEST_COOKIE, token, int(GUEST_TTL.total_seconds()))  # type: ignore[arg-type]
    return tokenHash(token)


class Guests:
    """
    Partidas played without an account, and their claim by the account that signs up or
    logs in from the same browser.
    """

    def __init__(self, store: Store, games: Any, clock: IReactorTime, lifetime: timedelta) -> None:
        self._store = store
        #: The L{juego.web.game.Games} that hands a claimed result to juego-tcp.
        self._games = games
        self._clock = clock
        self._lifetime = lifetime

    async def issue(self, request: IRequest, idioma: object, modo: object) -> dict[str, Any]:
        idioma, modo = checkIdioma(idioma), checkModo(modo)
        if modo == DIARIO:
            raise NotAuthenticated(
                "Inicia sesión o regístrate para jugar el desafío diario: "
                "es un intento al día por jugador."
            )
        partida = GuestPartida(
            id=str(uuid.uuid4()),
            invitado=ensureGuest(request),
            idioma=idioma,
            seed=new_seed(),
            modo=modo,
            emitida=utcnow(self._clock),
        )
        await self._store.guests.create(partida)
        return partidaFields(partida.id, partida.idioma, partida.seed, partida.modo)

    async def _open(self, request: IRequest, partidaID: object) -> GuestPartida:
        if not isinstance(partidaID, str) or not 0 < len(partidaID) <= 64:
            raise InvalidRequest("Falta el campo «partida_id».")
        invitado = guestID(request)
        partida = await self._store.guests.get(partidaID)
        if partida is None:
            raise NotFoundError("No existe esa partida.")
        if invitado is None or partida.invitado != invitado:
            raise Forbidden("Esa partida no es tuya.")
        if partida.cerrada is not None:
            raise PartidaClosed()
        if utcnow(self._clock) - partida.emitida > self._lifetime:
            raise PartidaExpired()
        return partida

    async def _close(self, partida: GuestPartida, now: datetime, estado: str, **kw: Any) -> None:
        if not await self._store.guests.close(partida.id, now, estado, **kw):
            raise PartidaClosed()

    async def save(
        self, request: IRequest, partidaID: object, eventos: object
    ) -> tuple[int, dict[str, Any]]:
        """
        Verify a guest's result as an account's is verified (the rules, then the
        keystroke evidence): refused (422), or kept for a later claim and answered at
        once with C{invitado: true}. A practice game is verified and kept for nobody.
        """
        partida = await self._open(request, partidaID)
        now = utcnow(self._clock)
        words = draw_words(partida.seed, partida.idioma)
        elapsedMs = int((now - partida.emitida).total_seconds() * 1000)
        try:
            result = verify(words, eventos, elapsedMs, livesFor(partida.modo))
        except MalformedEvents as e:
            raise InvalidRequest(str(e)) from None
        except InvalidResult as e:
            await self._close(partida, now, INVALIDA, motivo=e.rule)
            raise InvalidResultError(
                f"Resultado no válido: {e.rule}", extra={"motivo": e.rule}
            ) from None
        if not result.eventos:
            await self._close(partida, now, DESCARTADA)
            return 200, {**discardedReply(), "invitado": True}
        kept = verified(result)
        if partida.modo == PRACTICA:
            await self._close(partida, now, PRACTICA, result=kept)
            return 200, {**practiceReply(kept), "invitado": True}
        decision = judge(words, result, None)
        if decision.accion == RECHAZAR:
            assert decision.regla is not None
            await self._close(partida, now, INVALIDA, motivo=decision.regla)
            raise InvalidResultError(
                f"Resultado no válido: {decision.regla}", extra={"motivo": decision.regla}
            )
        held = decision.accion == RETENER
        await self._close(
            partida,
            now,
            EN_REVISION if held else PUBLICA,
            result=kept,
            motivo=decision.motivo if held else None,
            regla=decision.regla if held else None,
        )
        return 200, {
            **details(kept),
            "invitado": True,
            "en_revision": held,
            "nuevo_record": False,
            "puntaje_maximo": None,
            "message": GUEST_MESSAGE,
        }

    async def daily(self, user: User | None) -> dict[str, Any]:
        """
        Today's daily challenge: its UTC day, when the next starts, and the languages in
        which C{user} has had it (none for a guest).
        """
        now = utcnow(self._clock)
        dia = dayOf(now)
        jugado = [] if user is None else await self._store.modes.dailyPlayed(user.id, dia)
        return {
            "dia": dia,
            "siguiente": nextDaily(now).isoformat().replace("+00:00", "Z"),
            "jugado": jugado,
        }

    async def claim(self, request: IRequest, user: User) -> list[str]:
        """
        After C{user} signed up or logged in: save to the account this browser's guest
        results of the partida lifetime; the claimed partidas' ids (none the second time).
        A failure is logged, never fails the login.
        """
        invitado = guestID(request)
        if invitado is None:
            return []
        try:
            claimed: list[str] = await self._games.claimGuest(user, invitado)
        except Exception:
            log.failure("claiming the guest results of user {user}", user=user.id)
            return []
        if claimed:
            log.info("user {user} claimed guest results {ids}", user=user.id, ids=claimed)
        return claimed
