"""
The certification test under C{/api/certificacion} (docs/SECURITY.md, "The ranking: human results only").

A result above 100 wpm and more than 25 % above the player's certified speed is held
(L{juego.web.game}). To release it the player types a short text that exists only as a
distorted image rendered here (L{juego.game.captcha}), timed by the server:

  - C{GET /api/certificacion}: the certified speed, the results held for certification,
    and the open test if any;
  - C{POST /api/certificacion}: start a test (one open test per player, a few per hour);
  - C{GET /api/certificacion/<id>/imagen}: the image; its first fetch starts the clock
    (kept in the database, so any web node can take the answer);
  - C{POST /api/certificacion/<id>/respuesta}: the one answer. It passes with precision
    >= 95 % at >= 75 % of the held speed, and no faster than the refusal limit (a human
    cannot type beyond it); passing certifies the held speed and releases the held
    results up to it.

The text is never in a reply, a page or a log line: only in the database and the image.
"""

from __future__ import annotations

import math
import random
import secrets
import uuid
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import attrs
from klein import Klein
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from juego.game import IDIOMAS
from juego.game.captcha import OBJETIVO, PRECISION_MINIMA, makeText, renderImage, scoreAttempt
from juego.game.plausibility import CERTIFICACION
from juego.game.rules import (
    CV_MINIMO,
    MARGEN_CERTIFICACION,
    MIN_INTERVALOS,
    PEGADO_LETRAS,
    PEGADO_MAXIMO,
    VELOCIDAD_CERTIFICADA_POR_DEFECTO,
    WPM_CERTIFICACION,
    WPM_RECHAZO,
    WPM_REVISION,
)
from juego.model import User
from juego.store import Store
from juego.store.certifications import Certification, TooManyTests
from juego.web.auth import Authenticator
from juego.web.body import readJSON
from juego.web.clock import utcnow
from juego.web.errors import (
    Forbidden,
    ImageNotSeen,
    InvalidRequest,
    NoHeldResults,
    NotFoundError,
    TestAnswered,
    TestExpired,
    TooManyAttempts,
    installJSONErrors,
    ok,
)
from juego.web.game import Games

log = Logger()

#: A test must be answered this long after it is started.
LIFETIME = timedelta(minutes=5)
#: Tests a player may start in an hour: retries for a human, no brute force for a script.
PER_HOUR = 10
#: The longest answer read.
TEXTO_MAX = 2000
#: Rendered images kept in memory (a test's image is the same at every fetch): a player
#: reloading the image costs no rendering.
IMAGES_KEPT = 64


def _ppm(wpm: float) -> str:
    """
    A speed as a Spanish reader writes it: "112,5 ppm".
    """
    return f"{wpm:.1f}".replace(".", ",").removesuffix(",0") + " ppm"


def integridad() -> dict[str, float | int]:
    """
    The integrity thresholds, as /como-funciona shows them (percentages as whole numbers).
    """
    return {
        "rechazo": WPM_RECHAZO,
        "revision": WPM_REVISION,
        "certificacion": WPM_CERTIFICACION,
        "margen": round((MARGEN_CERTIFICACION - 1) * 100),
        "por_defecto": round(VELOCIDAD_CERTIFICADA_POR_DEFECTO),
        "sin_certificar": round(VELOCIDAD_CERTIFICADA_POR_DEFECTO * MARGEN_CERTIFICACION),
        "cv": CV_MINIMO,
        "intervalos": MIN_INTERVALOS,
        "pegado_letras": PEGADO_LETRAS,
        "pegado": round(PEGADO_MAXIMO * 100),
        "objetivo": round(OBJETIVO * 100),
        "precision": round(PRECISION_MINIMA * 100),
        "minutos": int(LIFETIME.total_seconds() // 60),
        "por_hora": PER_HOUR,
    }


def testJSON(test: Certification, now: Any) -> dict[str, Any]:
    """
    A test as the API shows it: never its text.
    """
    return {
        "id": test.id,
        "objetivo_wpm": test.objetivo_wpm,
        "velocidad": round(test.velocidad, 1),
        "imagen": f"/api/certificacion/{test.id}/imagen",
        "caduca_en_s": max(0, int((test.caduca - now).total_seconds())),
        "iniciada": test.vista is not None,
    }


@attrs.define(slots=False)
class CertificationAPI:
    router = Klein()
    installJSONErrors(router)

    store: Store
    auth: Authenticator
    games: Games
    clock: IReactorTime
    _images: OrderedDict[str, bytes] = attrs.field(factory=OrderedDict, init=False)

    def _render(self, test: Certification) -> Deferred[bytes]:
        """
        The test's PNG: rendering takes tens of milliseconds of CPU, so it runs in the
        reactor's thread pool when there is one (a test's Clock renders at once).
        """
        texto, rng = test.texto, random.Random(test.semilla)
        if IReactorThreads.providedBy(self.clock):
            reactor: Any = self.clock
            return deferToThreadPool(reactor, reactor.getThreadPool(), renderImage, texto, rng)
        return succeed(renderImage(texto, rng))

    async def _mine(self, user: User, certificationID: str) -> Certification:
        test = await self.store.certifications.get(certificationID)
        if test is None:
            raise NotFoundError("No existe esa prueba.")
        if test.user_id != user.id:
            raise Forbidden("Esa prueba no es tuya.")
        return test

    async def _held(self, user: User) -> list[Any]:
        return list(await self.store.partidas.held(user.id, CERTIFICACION))

    @router.route("/", methods=["GET"], strict_slashes=False)
    async def estado(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        now = utcnow(self.clock)
        certified = await self.store.users.certifiedWpm(user.id)
        held = await self._held(user)
        current = await self.store.certifications.current(user.id, now)
        return ok(
            request,
            velocidad_certificada=None if certified is None else round(certified, 1),
            retenidas=[
                {"partida_id": h.partida_id, "wpm": h.wpm, "puntaje": h.puntaje} for h in held
            ],
            prueba=None if current is None else testJSON(current, now),
        )

    @router.route("/", methods=["POST"], strict_slashes=False)
    async def empezar(self, request: IRequest) -> bytes:
        user = await self.auth.requireUser(request)
        body = readJSON(request)
        idioma = body.get("idioma", IDIOMAS[0])
        if idioma not in IDIOMAS:
            raise InvalidRequest(f"«idioma» debe ser uno de: {', '.join(IDIOMAS)}.")
        held = await self._held(user)
        certified = await self.store.users.certifiedWpm(user.id)
        if certified is not None and any(h.wpm <= certified for h in held):
            # Held results the certified speed already covers: a pass whose release did
            # not happen (the process stopped between the two). Release them now.
            await self.games.releaseCertified(user, certified)
            held = [h for h in held if h.wpm > certified]
        if not held:
            raise NoHeldResults()
        velocidad = max(float(h.wpm) for h in held)
        now = utcnow(self.clock)
        # The text and the image's distortions come from a secret seed: nothing in the
        # reply or the test's id says anything about them.
        semilla = secrets.randbits(63)
        new = Certification(
            id=str(uuid.uuid4()),
            user_id=user.id,
            texto=makeText(random.Random(semilla), str(idioma)),
            semilla=semilla,
            # Exact, not rounded: a result at 150.04 wpm must be within "up to" it.
            velocidad=velocidad,
            # Rounded up to a tenth: never below 75 % of the held speed.
            objetivo_wpm=math.ceil(velocidad * OBJETIVO * 10 - 1e-9) / 10,
            creada=now,
            caduca=now + LIFETIME,
        )
        try:
            test, created = await self.store.certifications.start(new, PER_HOUR)
        except TooManyTests:
            raise TooManyAttempts(
                f"Has empezado {PER_HOUR} pruebas en la última hora. Vuelve a intentarlo más tarde."
            ) from None
        return ok(request, 201 if created else 200, **testJSON(test, now))

    @router.route("/<string:certificationID>/imagen", methods=["GET"])
    async def imagen(self, request: IRequest, certificationID: str) -> bytes:
        user = await self.auth.requireUser(request)
        test = await self._mine(user, certificationID)
        now = utcnow(self.clock)
        if test.respondida is not None:
            raise TestAnswered()
        if now > test.caduca:
            raise TestExpired()
        if test.vista is None:
            await self.store.certifications.view(test.id, now)
        png = self._images.get(test.id)
        if png is None:
            png = await self._render(test)
            self._images[test.id] = png
            while len(self._images) > IMAGES_KEPT:
                self._images.popitem(last=False)
        request.setHeader(b"Content-Type", b"image/png")
        request.setHeader(b"Cache-Control", b"no-store")
        return png

    @router.route("/<string:certificationID>/respuesta", methods=["POST"])
    async def respuesta(self, request: IRequest, certificationID: str) -> bytes:
        user = await self.auth.requireUser(request)
        answer = _readAnswer(request)
        test = await self._mine(user, certificationID)
        now = utcnow(self.clock)
        _checkAnswerable(test, now)
        grade = Grade.of(test, answer, now)
        if not await self.store.certifications.answer(
            test.id, now, grade.passed, grade.wpm, grade.precision
        ):
            raise TestAnswered()
        self._images.pop(test.id, None)
        certified, released = await self._certify(user, grade)
        log.info(
            "certification {id} for user {user}: {verdict} at {wpm:.1f} wpm, {precision:.3f}",
            id=test.id,
            user=user.id,
            verdict="passed" if grade.passed else "failed",
            wpm=grade.wpm,
            precision=grade.precision,
        )
        return ok(
            request,
            aprobada=grade.passed,
            wpm=round(grade.wpm, 1),
            precision=round(grade.precision, 3),
            objetivo_wpm=test.objetivo_wpm,
            velocidad_certificada=None if certified is None else round(certified, 1),
            liberadas=released,
            message=grade.message(test.objetivo_wpm, certified),
        )

    async def _certify(self, user: User, grade: Grade) -> tuple[float | None, list[str]]:
        """
        The player's certified speed after the answer, and the held results it released.
        """
        # A pass raised the certified speed with the answer (one transaction); now the
        # held results up to it go public. Should this fail, the next POST releases them.
        certified = await self.store.users.certifiedWpm(user.id)
        released: list[str] = []
        if grade.passed and certified is not None:
            released = list(await self.games.releaseCertified(user, certified))
        return certified, released


def _readAnswer(request: IRequest) -> str:
    answer = readJSON(request).get("texto")
    if not isinstance(answer, str) or len(answer) > TEXTO_MAX:
        raise InvalidRequest(f"«texto» debe ser un texto de como mucho {TEXTO_MAX} caracteres.")
    return answer


def _checkAnswerable(test: Certification, now: Any) -> None:
    if test.respondida is not None:
        raise TestAnswered()
    if now > test.caduca:
        raise TestExpired()
    if test.vista is None:
        raise ImageNotSeen()


@attrs.frozen
class Grade:
    """
    How an answer did: its speed from the image's first fetch, its precision, whether a
    human could have typed it, and whether it passes.
    """

    wpm: float
    precision: float
    human: bool
    passed: bool

    @classmethod
    def of(cls, test: Certification, answer: str, now: Any) -> Grade:
        assert test.vista is not None
        elapsedMs = int((now - test.vista).total_seconds() * 1000)
        wpm, precision = scoreAttempt(test.texto, answer, elapsedMs)
        human = wpm <= WPM_RECHAZO
        passed = human and precision >= PRECISION_MINIMA and wpm >= test.objetivo_wpm
        return cls(wpm, precision, human, passed)

    def message(self, target: float, certified: float | None) -> str:
        """
        The verdict for the player.
        """
        if self.passed:
            if certified is None:
                return "¡Prueba superada!"
            return f"¡Prueba superada! Tu velocidad certificada es ahora {_ppm(certified)}."
        if not self.human:
            return "Respuesta demasiado rápida para haberla escrito una persona."
        if self.precision < PRECISION_MINIMA:
            return (
                "El texto no coincide lo suficiente: necesitas al menos "
                f"{round(PRECISION_MINIMA * 100)} % de aciertos."
            )
        return f"Demasiado lento: has escrito a {_ppm(self.wpm)} y necesitabas {_ppm(target)}."
