"""
The game's server side: issuing partidas and accepting their verified results.

A partida is issued as a signed token (L{juego.web.tokens}): nothing is written, except a
daily challenge's (its one attempt is recorded at issue) and a race's (its seed is the
room's). A result goes: read the partida (404 no such partida, 403 another player's, 409
closed, 410 older than an hour) -> verify the events against the words regenerated from
its seed (the rules) -> judge the keystroke evidence (L{juego.game.plausibility}):
refused (422), held, or public -> a held result closes the partida C{en_revision} and goes
nowhere -> a public one goes to juego-tcp with its partida: juego-tcp closes the partida,
stores the score and, for a new record, queues the notification, in one commit (so on the
happy path juego-web writes nothing), and delivers the notification itself. If juego-tcp
cannot be reached, juego-web closes the partida and queues the hand-over in its own
outbox, in one transaction, and answers 202 C{pendiente}; the outbox drain loop hands it
over later (juego-tcp answers a repeated hand-over by its key: never stored twice).

A held result is released (an admin's approval, or the player's passed certification
test) by queueing it in the outbox, and handed over the same way. An admin's void removes
a ranked result's score and corrects every aggregate.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, NoReturn

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from juego.game import InvalidResult, MalformedEvents, draw_words, verify
from juego.game.plausibility import CERTIFICACION, RECHAZAR, RETENER, Decision, judge
from juego.game.rules import PALABRAS_POR_PARTIDA, WPM_CERTIFICACION
from juego.game.verifier import Resultado, eventosJSON
from juego.logging import requestIDFields
from juego.model import Partida, User
from juego.outbox import ADD_NOTIFICATION, CLAIM, SAVE_SCORE, Deliveries, Outcome, followUp
from juego.store import Store
from juego.store.modes import AlreadyPlayed
from juego.store.partidas import DeliveryInFlight, NotVoidable, Verified
from juego.web import modes
from juego.web.clock import utcnow
from juego.web.errors import (
    Conflict,
    Forbidden,
    InternalError,
    InvalidRequest,
    InvalidResultError,
    NotFoundError,
    PartidaClosed,
    PartidaExpired,
    databaseUnavailable,
    oneLine,
)
from juego.web.tokens import LENGTH as TOKEN_LENGTH
from juego.web.tokens import PartidaTokens
from juego.wire.errors import CONFLICT

log = Logger()

#: A partida's result is accepted this long after it was issued.
LIFETIME = timedelta(hours=1)

HELD_MESSAGES = {
    CERTIFICACION: "Resultado guardado, pendiente de certificación: supera la prueba de "
    "velocidad para publicarlo en las clasificaciones.",
}
HELD_MESSAGE = "Resultado guardado, pendiente de revisión por un administrador."


def _details(verified: Verified) -> dict[str, Any]:
    """
    The verified figures every reply about a result carries.
    """
    return {"puntaje": verified.puntaje, "wpm": verified.wpm, "precision": verified.precision}


def scorePayload(
    userID: int, puntaje: int, partidaID: str, partida: dict[str, Any] | None = None
) -> dict[str, Any]:
    """
    The work that hands a verified result to juego-tcp: with C{partida}
    (L{closingFields}), juego-tcp closes the partida in the commit that stores the score.
    """
    payload = {
        "user_id": userID,
        "puntaje": puntaje,
        "partida_id": partidaID,
        **requestIDFields(),  # so that a later delivery still carries this request's id
    }
    if partida is not None:
        payload["partida"] = partida
    return payload


def closingFields(partida: Partida, verified: Verified) -> dict[str, Any]:
    """
    The partida and its verified result, as juego-tcp writes them (C{save_score}'s
    C{partida}, L{juego.scores.closedPartida}).
    """
    return {
        "id": partida.id,
        "idioma": partida.idioma,
        "seed": partida.seed,
        "emitida": partida.emitida.isoformat(),
        "modo": partida.modo,
        "wpm": verified.wpm,
        "precision": verified.precision,
        "duracion_ms": verified.duracion_ms,
        "eventos": verified.values()["eventos"],
    }


def partidaJSON(partida: Partida) -> dict[str, Any]:
    return modes.partidaFields(partida.id, partida.idioma, partida.seed, partida.modo)


class Games:
    def __init__(
        self,
        store: Store,
        deliveries: Deliveries,
        clock: IReactorTime,
        dailyKey: bytes | None = None,
    ) -> None:
        self._store = store
        #: The daily challenge's key (L{modes.dailySeed}): the service secret.
        self._dailyKey = dailyKey
        #: Partidas are tokens signed with the service secret.
        self.tokens = PartidaTokens(dailyKey, dailyKey)
        self._deliveries = deliveries
        self._clock = clock
        #: Notifications being sent in the background (for tests and clean shutdown).
        self.sending: set[Deferred[Any]] = set()

    async def issue(self, user: User, idioma: object, modo: object = None) -> dict[str, Any]:
        idioma, modo = modes.checkIdioma(idioma), modes.checkModo(modo)
        now = utcnow(self._clock)  # one moment: the daily challenge's day and its words
        partida = self.tokens.issue(user.id, idioma, modo, now)
        if modo == modes.DIARIO:
            await self._issueDaily(partida)
        return partidaJSON(partida)

    async def issueForRace(self, user: User, idioma: str, seed: int) -> dict[str, Any]:
        """
        A partida with a given seed: a race's racers share one (L{juego.web.race}), each
        with a partida of their own, verified and saved like any other. It is written at
        issue (a token does not carry a seed).
        """
        partida = Partida(
            id=str(uuid.uuid4()),
            user_id=user.id,
            idioma=idioma,
            seed=seed,
            emitida=utcnow(self._clock),
            modo=modes.NORMAL,
        )
        await self._store.partidas.create(partida)
        return partidaJSON(partida)

    async def _issueDaily(self, partida: Partida) -> None:
        """
        The daily challenge: the player's one attempt of the day in that language is
        recorded with the partida (409 C{ya_jugado} for a second).
        """
        try:
            await self._store.modes.issueDaily(partida, modes.dayOf(partida.emitida))
        except AlreadyPlayed:
            raise modes.AlreadyPlayedError() from None

    async def _openPartida(self, user: User, partidaID: object) -> Partida:
        if not isinstance(partidaID, str) or not 0 < len(partidaID) <= 64:
            raise InvalidRequest("Falta el campo «partida_id».")
        partida = self.tokens.read(partidaID)
        if partida is None and len(partidaID) == TOKEN_LENGTH:
            raise NotFoundError("No existe esa partida.")  # forged: no need to look
        if partida is None:
            # Not a token: a race's partida (or one issued before tokens), written at issue.
            partida = await self._store.partidas.get(partidaID)
            if partida is None:
                raise NotFoundError("No existe esa partida.")
            if partida.user_id == user.id and partida.cerrada is not None:
                raise PartidaClosed()
        # A token's partida is not looked up: whether it was closed already is answered
        # where it would be closed (juego-tcp for a public result, the close itself
        # otherwise), so a verified save reads nothing here either.
        if partida.user_id != user.id:
            raise Forbidden("Esa partida no es tuya.")
        if utcnow(self._clock) - partida.emitida > LIFETIME:
            raise PartidaExpired()
        return partida

    async def save(
        self, user: User, partidaID: object, eventos: object
    ) -> tuple[int, dict[str, Any]]:
        """
        Verify and save a result: the HTTP status and the reply's fields. The integrity
        pipeline in order: the game's rules (L{_verified}), then nothing played
        (L{_discard}), the keystroke evidence (L{_judge}), and the board: held
        (L{_hold}) or published (L{_publish}).
        """
        partida = await self._openPartida(user, partidaID)
        now = utcnow(self._clock)
        # Only the words it played (a prefix of the partida's: tests.test_game.test_prefix).
        played = len(eventos) if isinstance(eventos, list) else PALABRAS_POR_PARTIDA
        words = draw_words(partida.seed, partida.idioma, min(played, PALABRAS_POR_PARTIDA))
        result = await self._verified(partida, words, eventos, now)
        if not result.eventos:
            return await self._discard(partida, now)
        if partida.modo == modes.PRACTICA:
            return await self._practice(partida, result, now)
        decision = await self._judge(user, partida, words, result, now)
        verified = Verified(
            result.puntaje,
            result.wpm,
            result.precision,
            result.duracion_ms,
            eventosJSON(eventos, result.eventos),
        )
        if decision.accion == RETENER:
            return await self._hold(partida, verified, decision, now)
        return await self._publish(user, partida, verified, now)

    async def _verified(
        self, partida: Partida, words: list[str], eventos: object, now: datetime
    ) -> Resultado:
        """
        The events checked against the game's rules: 400 for malformed events (the partida
        stays open), 422 for a broken rule (the partida closes as invalid).
        """
        elapsedMs = int((now - partida.emitida).total_seconds() * 1000)
        try:
            return verify(words, eventos, elapsedMs, modes.livesFor(partida.modo))
        except MalformedEvents as e:
            raise InvalidRequest(str(e)) from None
        except InvalidResult as e:
            await self._refuse(partida, now, e.rule)

    async def _discard(self, partida: Partida, now: datetime) -> tuple[int, dict[str, Any]]:
        """
        Stopped before any word ended: nothing was played, and it counts nowhere.
        """
        if not await self._store.partidas.closeDiscarded(partida, now):
            raise PartidaClosed()
        return 200, {
            "descartada": True,
            "puntaje": 0,
            "message": "Partida descartada: no terminó ninguna palabra, así que no cuenta.",
        }

    async def _practice(
        self, partida: Partida, result: Resultado, now: datetime
    ) -> tuple[int, dict[str, Any]]:
        """
        A practice game: verified and shown to its player, sent nowhere.
        """
        verified = modes.verified(result)
        if not await self._store.modes.closePractice(partida, now, verified):
            raise PartidaClosed()
        return 200, modes.practiceReply(verified)

    async def _judge(
        self, user: User, partida: Partida, words: list[str], result: Resultado, now: datetime
    ) -> Decision:
        """
        The plausibility model's decision; a refusal closes the partida (422).
        """
        # The certified speed matters only above the speed anybody may reach uncertified.
        certified = (
            await self._store.users.certifiedWpm(user.id)
            if result.wpm > WPM_CERTIFICACION
            else None
        )
        decision = judge(words, result, certified)
        if decision.accion == RECHAZAR:
            assert decision.regla is not None
            await self._refuse(partida, now, decision.regla)
        return decision

    async def _hold(
        self, partida: Partida, verified: Verified, decision: Decision, now: datetime
    ) -> tuple[int, dict[str, Any]]:
        """
        Close the partida with its result held (review or certification): shown to its
        player, sent nowhere else.
        """
        assert decision.motivo is not None
        if not await self._store.partidas.closeHeld(
            partida, now, verified, decision.motivo, decision.regla
        ):
            raise PartidaClosed()
        log.info(
            "result of partida {partida} held ({motivo}): {regla}",
            partida=partida.id,
            motivo=decision.motivo,
            regla=decision.regla,
        )
        return 200, {
            **_details(verified),
            "en_revision": True,
            "motivo": decision.motivo,
            "regla": decision.regla,
            "nuevo_record": False,
            "puntaje_maximo": None,
            "message": HELD_MESSAGES.get(decision.motivo, HELD_MESSAGE),
        }

    async def _publish(
        self, user: User, partida: Partida, verified: Verified, now: datetime
    ) -> tuple[int, dict[str, Any]]:
        """
        Hand the result to juego-tcp, which closes the partida with it, stores the score
        and queues a record's notification in one commit: 200 on its confirmation. While
        juego-tcp cannot be reached, close the partida and queue the hand-over in the
        outbox, in one transaction: 202 C{pendiente}.
        """
        payload = scorePayload(
            user.id, verified.puntaje, partida.id, closingFields(partida, verified)
        )
        # The first hand-over: juego-tcp refuses it (conflict) if the partida was closed
        # already, by this result or another; a later one (from the outbox) is answered by
        # its key.
        outcome, reply = await self._deliveries.send(SAVE_SCORE, {**payload, "primera": True})
        if outcome is Outcome.RETRY:
            queued = await self._store.partidas.closeSaved(
                partida, now, verified, SAVE_SCORE, payload, now + CLAIM
            )
            if queued is None:
                raise PartidaClosed()
            return 202, {
                **_details(verified),
                "pendiente": True,
                "nuevo_record": None,
                "puntaje_maximo": None,
                "message": "Resultado verificado. El servicio de puntuaciones no responde: "
                "se guardará en cuanto vuelva.",
            }
        if outcome is Outcome.DROP:
            if reply is not None and reply.get("code") == CONFLICT:
                raise PartidaClosed()  # closed otherwise meanwhile (a second tab, say)
            raise InternalError("El servicio de puntuaciones rechazó el resultado.")
        assert reply is not None
        nuevoRecord = bool(reply.get("nuevo_record"))
        return 200, {
            **_details(verified),
            "nuevo_record": nuevoRecord,
            "puntaje_maximo": reply.get("puntaje_maximo"),
            "message": (
                f"¡Nuevo récord personal: {verified.puntaje} puntos!"
                if nuevoRecord
                else f"Puntuación guardada: {verified.puntaje} puntos."
            ),
        }

    async def _refuse(self, partida: Partida, now: datetime, rule: str) -> NoReturn:
        """
        Close the partida as invalid and answer 422 with the broken rule.
        """
        if not await self._store.partidas.closeInvalid(partida, now, rule):
            raise PartidaClosed()
        raise InvalidResultError(f"Resultado no válido: {rule}", extra={"motivo": rule})

    async def _handOver(
        self, outboxID: int, payload: dict[str, Any]
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """
        Send a queued score to juego-tcp now; on its confirmation the outbox row goes and
        a new record queues (and at once tries) its notification. On C{RETRY} the row
        stays for the drain loop.
        """
        outcome, reply = await self._deliveries.send(SAVE_SCORE, payload)
        if outcome is Outcome.RETRY:
            return outcome, None
        now = utcnow(self._clock)
        following = followUp(SAVE_SCORE, payload, reply) if outcome is Outcome.DONE else None
        try:
            notificationID = await self._store.partidas.complete(
                outboxID, following, now, now + CLAIM
            )
        except Exception as e:
            if outcome is not Outcome.DONE or not databaseUnavailable(e):
                raise
            # juego-tcp has stored it: the answer is 200 all the same. The outbox row
            # stays; once its claim lapses the drain loop sends it again (juego-tcp
            # answers the same by its key) and queues the record notification then.
            log.warn(
                "saved partida {key}, but the database went away before its outbox row was "
                "cleared: {error}",
                key=payload.get("partida_id"),
                error=oneLine(e),
            )
            return outcome, reply
        if notificationID is not None and following is not None:
            self._notify(notificationID, following[1])
        return outcome, reply

    async def _release(self, **which: Any) -> list[tuple[str, Outcome]]:
        now = utcnow(self._clock)
        released = await self._store.partidas.release(
            SAVE_SCORE, scorePayload, now, now + CLAIM, **which
        )
        outcomes = []
        for partidaID, outboxID, payload in released:
            outcome, _ = await self._handOver(outboxID, payload)
            outcomes.append((partidaID, outcome))
        return outcomes

    async def claimGuest(self, user: User, invitado: str) -> list[str]:
        """
        C{user} signed up or logged in from the browser of guest C{invitado}: its
        verified results of the partida lifetime become the account's, a public one
        handed over like a released held result (once: a claimed result is not claimed
        again, and juego-tcp keys the score by the partida). The claimed partidas' ids.
        """
        now = utcnow(self._clock)
        claimed = await self._store.guests.claim(
            invitado, user.id, now - LIFETIME, now, SAVE_SCORE, scorePayload, now + CLAIM
        )
        for item in claimed:
            if item.outbox_id is not None and item.payload is not None:
                await self._handOver(item.outbox_id, item.payload)
        return [item.partida_id for item in claimed]

    async def approve(self, partidaID: str) -> Outcome:
        """
        An admin approves a held result: it is handed over like a public one. The
        delivery's outcome (C{RETRY}: the outbox will deliver it). 409 if it is not held.
        """
        released = await self._release(partidaID=partidaID)
        if not released:
            raise Conflict("Ese resultado no está pendiente de revisión.")
        return released[0][1]

    async def releaseCertified(self, user: User, upToWpm: float) -> list[str]:
        """
        The player passed the certification test at C{upToWpm}: their results held for
        certification up to that speed are released (C{aprobada}) and handed over like
        public ones (record notification included). The released partidas' ids.
        """
        released = await self._release(userID=user.id, upToWpm=upToWpm, motivo=CERTIFICACION)
        return [partidaID for partidaID, _ in released]

    async def void(self, partidaID: str) -> str:
        """
        An admin voids a held or ranked result (C{anulada}). A ranked one loses its score,
        and every aggregate, stat and board is corrected, in one transaction. The state
        it had. 404 for no such partida, 409 for one that is not a result.
        """
        work = self._store.partidas.voidWork(SAVE_SCORE, utcnow(self._clock))
        try:
            estado = await self._store.scores.removeScore(
                partidaID, within=lambda conn: work(conn, partidaID)
            )
        except NotVoidable as e:
            if e.args[0] is None and self.tokens.read(partidaID) is None:
                raise NotFoundError("No existe esa partida.") from None
            raise Conflict("Esa partida no tiene un resultado que anular.") from None
        except DeliveryInFlight:
            raise Conflict(
                "El resultado se está entregando al servicio de puntuaciones: "
                "inténtalo de nuevo en unos segundos."
            ) from None
        assert estado is not None
        return estado

    def _notify(self, outboxID: int, payload: dict[str, Any]) -> None:
        """
        Send a queued notification now, without holding up the reply; if it fails the
        drain loop sends it once its claim lapses.
        """

        async def send() -> None:
            outcome, _ = await self._deliveries.send(ADD_NOTIFICATION, payload)
            if outcome is not Outcome.RETRY:
                await self._store.partidas.complete(outboxID)

        d = ensureDeferred(send())
        self.sending.add(d)

        def done(result: Any) -> None:
            self.sending.discard(d)
            if isinstance(result, Failure):
                log.failure("sending a notification failed", result)

        d.addBoth(done)
