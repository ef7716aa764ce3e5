"""
The game's server side: issuing partidas and accepting their verified results.

A result goes: load the partida (403 another player's, 409 closed, 410 older than an
hour) -> verify the events against the words regenerated from the kept seed -> in one
transaction close the partida and queue the score in the outbox (claimed by this request)
-> C{save_score} to juego-tcp, idempotent by partida id -> on its confirmation the outbox
row goes, and a new record queues (and at once tries) its notification. If juego-tcp is
down the reply is 202 C{pendiente} and the outbox drain loop hands the score over later.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from juego.game import IDIOMAS, InvalidResult, MalformedEvents, draw_words, new_seed, reglas, verify
from juego.game.rules import VIDAS
from juego.logging import requestIDFields
from juego.model import Partida, User
from juego.store import Store
from juego.store.partidas import Verified
from juego.web.clock import utcnow
from juego.web.errors import (
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
from juego.web.outbox import ADD_NOTIFICATION, CLAIM, SAVE_SCORE, Deliveries, Outcome, followUp

log = Logger()

#: A partida's result is accepted this long after it was issued.
LIFETIME = timedelta(hours=1)


def partidaJSON(partida: Partida) -> dict[str, Any]:
    return {
        "id": partida.id,
        "idioma": partida.idioma,
        "palabras": draw_words(partida.seed, partida.idioma),
        "vidas": VIDAS,
        "reglas": reglas(),
    }


class Games:
    def __init__(self, store: Store, deliveries: Deliveries, clock: IReactorTime) -> None:
        self._store = store
        self._deliveries = deliveries
        self._clock = clock
        #: Notifications being sent in the background (for tests and clean shutdown).
        self.sending: set[Deferred[Any]] = set()

    async def issue(self, user: User, idioma: object) -> dict[str, Any]:
        if idioma is None:
            idioma = IDIOMAS[0]
        if idioma not in IDIOMAS:
            raise InvalidRequest(f"«idioma» debe ser uno de: {', '.join(IDIOMAS)}.")
        partida = Partida(
            id=str(uuid.uuid4()),
            user_id=user.id,
            idioma=str(idioma),
            seed=new_seed(),
            emitida=utcnow(self._clock),
        )
        await self._store.partidas.create(partida)
        return partidaJSON(partida)

    async def _openPartida(self, user: User, partidaID: object) -> Partida:
        if not isinstance(partidaID, str) or not 0 < len(partidaID) <= 64:
            raise InvalidRequest("Falta el campo «partida_id».")
        partida = await self._store.partidas.get(partidaID)
        if partida is None:
            raise NotFoundError("No existe esa partida.")
        if partida.user_id != user.id:
            raise Forbidden("Esa partida no es tuya.")
        if partida.cerrada is not None:
            raise PartidaClosed()
        if utcnow(self._clock) - partida.emitida > LIFETIME:
            raise PartidaExpired()
        return partida

    async def save(
        self, user: User, partidaID: object, eventos: object
    ) -> tuple[int, dict[str, Any]]:
        """
        Verify and save a result: the HTTP status and the reply's fields.
        """
        partida = await self._openPartida(user, partidaID)
        now = utcnow(self._clock)
        elapsedMs = int((now - partida.emitida).total_seconds() * 1000)
        try:
            result = verify(draw_words(partida.seed, partida.idioma), eventos, elapsedMs)
        except MalformedEvents as e:
            raise InvalidRequest(str(e)) from None
        except InvalidResult as e:
            if not await self._store.partidas.closeInvalid(partida.id, now, e.rule):
                raise PartidaClosed() from None
            raise InvalidResultError(
                f"Resultado no válido: {e.rule}", extra={"motivo": e.rule}
            ) from None

        payload = {
            "user_id": user.id,
            "puntaje": result.puntaje,
            "partida_id": partida.id,
            **requestIDFields(),  # so that a later delivery still carries this request's id
        }
        verified = Verified(result.puntaje, result.wpm, result.precision, result.duracion_ms)
        outboxID = await self._store.partidas.closeSaved(
            partida.id, now, verified, SAVE_SCORE, payload, now + CLAIM
        )
        if outboxID is None:
            raise PartidaClosed()
        details = {"puntaje": result.puntaje, "wpm": result.wpm, "precision": result.precision}

        outcome, reply = await self._deliveries.send(SAVE_SCORE, payload)
        if outcome is Outcome.RETRY:
            return 202, {
                **details,
                "pendiente": True,
                "nuevo_record": None,
                "puntaje_maximo": None,
                "message": "Resultado verificado. El servicio de puntuaciones no responde: "
                "se guardará en cuanto vuelva.",
            }
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
                "saved {partida}, but the database went away before its outbox row "
                "was cleared: {error}",
                partida=partida.id,
                error=oneLine(e),
            )
            notificationID = None
        if outcome is Outcome.DROP:
            raise InternalError("El servicio de puntuaciones rechazó el resultado.")
        assert reply is not None
        if notificationID is not None and following is not None:
            self._notify(notificationID, following[1])
        nuevoRecord = bool(reply.get("nuevo_record"))
        return 200, {
            **details,
            "nuevo_record": nuevoRecord,
            "puntaje_maximo": reply.get("puntaje_maximo"),
            "message": (
                f"¡Nuevo récord personal: {result.puntaje} puntos!"
                if nuevoRecord
                else f"Puntuación guardada: {result.puntaje} puntos."
            ),
        }

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
