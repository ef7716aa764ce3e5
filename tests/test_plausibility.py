"""
The plausibility stage (L{juego.game.plausibility}) on generated keystroke streams:
people at 60-110 wpm are published at once; scripts (regular intervals, pasted words,
speeds beyond the records) never are.
"""

from __future__ import annotations

import math
import random

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from juego.game import IDIOMAS, draw_words, verify
from juego.game.plausibility import (
    CERTIFICACION,
    PUBLICAR,
    RECHAZAR,
    RETENER,
    REVISION,
    Decision,
    coeficienteVariacion,
    coeficienteVariacionRobusto,
    intervalos,
    judge,
    pegadas,
)
from juego.game.rules import (
    CV_MINIMO,
    MIN_CARACTERES_VELOCIDAD,
    MIN_INTERVALOS,
    WPM_RECHAZO,
    WPM_REVISION,
    longitud,
)
from juego.game.verifier import Evento, Resultado
from tests.keystrokes import duration, humanEvents, playedEvents, regularEvents

HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

seeds = st.integers(min_value=0, max_value=2**62)
idiomas = st.sampled_from(IDIOMAS)


def event_d(events: list, event: dict) -> int:
    """The time word C{event} was on screen (its t minus the previous t)."""
    i = events.index(event)
    return event["t"] - (events[i - 1]["t"] if i else 0)


def verified(words: list[str], events: list) -> Resultado:
    return verify(words, events, duration(events))


def decide(words: list[str], events: list, certificada: float | None = None) -> Decision:
    return judge(words, verified(words, events), certificada)


class HumanTests(SynchronousTestCase):
    @HYPOTHESIS
    @given(
        seeds,
        idiomas,
        st.floats(min_value=62, max_value=115),
        st.floats(min_value=0.35, max_value=0.6),
        st.floats(min_value=0.0, max_value=0.06),
    )
    def test_peoplePublishedAtOnce(self, seed, idioma, wpm, sigma, errorRate) -> None:
        """
        A person typing at 60-110 wpm (log-normal rhythm, slips and corrections) is
        published at once, uncertified, over a whole game.
        """
        rng = random.Random(seed)
        words = draw_words(seed, idioma)
        events = humanEvents(words, wpm, rng, sigma=sigma, errorRate=errorRate)
        result = verified(words, events)
        self.assertLessEqual(result.wpm, 125)
        self.assertEqual(judge(words, result), Decision(PUBLICAR))
        self.assertGreaterEqual(coeficienteVariacion(intervalos(result.eventos)), 0.3)

    def test_gameSpeedsCovered(self) -> None:
        """
        The generator's games do span 60-110 wpm as the game measures it.
        """
        speeds = []
        for seed, wpm in enumerate(range(60, 125, 5)):
            words = draw_words(seed, "es")
            events = humanEvents(words, wpm, random.Random(seed), n=60)
            speeds.append(verified(words, events).wpm)
        self.assertLess(min(speeds), 62)
        self.assertGreater(max(speeds), 110)

    @HYPOTHESIS
    @given(seeds, st.integers(min_value=1, max_value=200))
    def test_testHelperGamesPublished(self, seed, n) -> None:
        words = draw_words(seed, "es")
        self.assertEqual(decide(words, playedEvents(words, n, seed=seed)), Decision(PUBLICAR))


class ScriptTests(SynchronousTestCase):
    @HYPOTHESIS
    @given(seeds, idiomas, st.floats(min_value=30, max_value=150), st.integers(10, 200))
    def test_regularNeverPublished(self, seed, idioma, msPerLetter, n) -> None:
        """
        Keys at one fixed interval, at any pace up to 80 wpm (slower ones meet the words'
        limits), over enough keys: never published.
        """
        words = draw_words(seed, idioma)
        events = regularEvents(words, msPerLetter, n)
        result = verified(words, events)
        if len(intervalos(result.eventos)) < MIN_INTERVALOS:
            return
        self.assertNotEqual(judge(words, result).accion, PUBLICAR)
        self.assertNotEqual(judge(words, result, certificada=1000).accion, PUBLICAR)

    def test_attack400wpm(self) -> None:
        """
        The reported attack: 30 ms a letter over all 200 words.
        """
        words = draw_words(1, "es")
        result = verified(words, regularEvents(words, 30))
        self.assertEqual(result.wpm, 400.0)
        decision = judge(words, result, certificada=400)
        self.assertEqual(decision.accion, RECHAZAR)
        assert decision.regla is not None
        self.assertIn("récord", decision.regla)

    @HYPOTHESIS
    @given(seeds, st.floats(min_value=60, max_value=200), st.floats(0.0, 0.2))
    def test_smallJitterHeld(self, seed, msPerLetter, jitter) -> None:
        """
        A script that jitters each interval by up to +/-20 % is still machine-regular.
        """
        words = draw_words(seed, "es")
        events = regularEvents(words, msPerLetter, 60, jitter=jitter, rng=random.Random(seed))
        decision = decide(words, events, certificada=1000)
        self.assertEqual((decision.accion, decision.motivo), (RETENER, REVISION))
        assert decision.regla is not None
        self.assertIn("regulares", decision.regla)

    @HYPOTHESIS
    @given(seeds, st.floats(min_value=80, max_value=200), st.integers(1, 6))
    def test_regularWithOutliersHeld(self, seed, msPerLetter, outliers) -> None:
        """
        A constant-pace script whose browser delivered a few events almost at once and a
        few late (seen in play: 110 ms a key, two gaps of 3 ms, one of 240 ms, plain CV
        0.22) is still machine-regular: the robust measure is not moved by them.
        """
        words = draw_words(seed, "es")
        events = regularEvents(words, msPerLetter, 40)
        rng = random.Random(seed)
        typed = [e for e in events if len(e["teclas"]) >= 3]
        for event in rng.sample(typed, min(outliers, len(typed))):
            teclas = event["teclas"]
            k = rng.randrange(1, len(teclas) - 1)
            # One event 3 ms after the one before, or one late by 2.2 intervals (the rest
            # of the word shifted, but within its time on screen).
            if rng.random() < 0.5:
                teclas[k] = teclas[k - 1] + 3
            else:
                late = round(msPerLetter * 1.2)
                event["teclas"] = teclas[:k] + [
                    min(x + late, event_d(events, event)) for x in teclas[k:]
                ]
        decision = decide(words, events, certificada=1000)
        self.assertEqual((decision.accion, decision.motivo), (RETENER, REVISION))

    @HYPOTHESIS
    @given(seeds, st.floats(min_value=0.3, max_value=1.0))
    def test_pastedHeld(self, seed, share) -> None:
        """
        Human-typed words, except that a share of them arrived in one input event.
        """
        rng = random.Random(seed)
        words = draw_words(seed, "es")
        events = humanEvents(words, 70, rng, n=40)
        long = [k for k, e in enumerate(events) if e["ok"] and longitud(words[k]) >= 4]
        for k in long[: max(1, math.ceil(len(long) * share))]:
            events[k]["teclas"] = [events[k]["teclas"][-1]]
        decision = decide(words, events)
        self.assertEqual((decision.accion, decision.motivo), (RETENER, REVISION))
        assert decision.regla is not None
        self.assertIn("pegadas", decision.regla)

    def test_fewPastesTolerated(self) -> None:
        """
        A phone's autocompletion now and then (under 30 % of the words) is fine.
        """
        words = draw_words(3, "es")
        events = humanEvents(words, 70, random.Random(3), n=60)
        long = [k for k, e in enumerate(events) if e["ok"] and longitud(words[k]) >= 4]
        for k in long[: len(long) // 5]:
            events[k]["teclas"] = [events[k]["teclas"][-1]]
        single, considered = pegadas(words, verified(words, events).eventos)
        self.assertGreater(single, 0)
        self.assertEqual(decide(words, events), Decision(PUBLICAR))


class SpeedTests(SynchronousTestCase):
    def fast(self, wpm: float, reaction: float, seed: int = 1) -> tuple[list[str], Resultado]:
        words = draw_words(seed, "es")
        events = humanEvents(words, wpm, random.Random(seed), n=60, reaction=reaction)
        return words, verified(words, events)

    def test_certification(self) -> None:
        words, result = self.fast(150, 260)
        self.assertTrue(125 < result.wpm < 200, result.wpm)
        decision = judge(words, result)
        self.assertEqual((decision.accion, decision.motivo), (RETENER, CERTIFICACION))
        # Certified at 100: 25 % above is still too much; at 125 or more, published.
        self.assertEqual(judge(words, result, 100.0).motivo, CERTIFICACION)
        self.assertEqual(judge(words, result, result.wpm / 1.25), Decision(PUBLICAR))
        self.assertEqual(judge(words, result, 400.0), Decision(PUBLICAR))

    def test_certificationBoundary(self) -> None:
        """
        Up to 125 wpm an uncertified player is published; just above, held.
        """
        for wpm, held in ((124.0, False), (125.0, False), (125.1, True)):
            words, result = self.fast(100, 260)
            result = attrs.evolve(result, wpm=wpm)
            decision = judge(words, result)
            self.assertEqual(decision.motivo == CERTIFICACION, held, wpm)

    def test_review(self) -> None:
        words, result = self.fast(230, 100)
        self.assertTrue(WPM_REVISION < result.wpm <= WPM_RECHAZO, result.wpm)
        decision = judge(words, result, certificada=1000)
        self.assertEqual((decision.accion, decision.motivo), (RETENER, REVISION))

    def test_refused(self) -> None:
        words, result = self.fast(300, 60)
        self.assertGreater(result.wpm, WPM_RECHAZO)
        self.assertEqual(judge(words, result, certificada=1000).accion, RECHAZAR)

    def test_shortGamesNotTimed(self) -> None:
        """
        Under 50 typed letters the "speed" is mostly one reaction: not judged.
        """
        words = ["casa", "perro"]
        eventos = (
            Evento(200, True, 0, (50, 120, 150, 200)),
            Evento(400, True, 0, (40, 90, 130, 170, 200)),
        )
        result = _result(eventos, caracteres=9, wpm=270.0)
        self.assertLess(result.caracteres, MIN_CARACTERES_VELOCIDAD)
        self.assertEqual(judge(words, result), Decision(PUBLICAR))
        self.assertEqual(judge(words, attrs.evolve(result, caracteres=50)).accion, RECHAZAR)

    @HYPOTHESIS
    @given(seeds, st.floats(min_value=60, max_value=240), st.floats(0, 300), st.floats(0, 300))
    def test_certifiedSpeedOnlyHelps(self, seed, wpm, a, b) -> None:
        """
        A higher certified speed never turns a published result into a held one.
        """
        words, result = self.fast(wpm, 200, seed)
        low, high = sorted((a, b))
        if judge(words, result, low).accion == PUBLICAR:
            self.assertEqual(judge(words, result, high).accion, PUBLICAR)


class MeasureTests(SynchronousTestCase):
    def test_intervals(self) -> None:
        eventos = [
            Evento(500, True, 0, (100, 150, 150, 400)),
            Evento(900, False, 0, ()),
            Evento(1000, True, 0, (7,)),
        ]
        self.assertEqual(intervalos(eventos), [50, 0, 250])

    def test_robustCV(self) -> None:
        """
        The robust CV ignores a few outliers that move the plain one past the limit.
        """
        gaps = [110] * 60 + [3, 3, 240]
        self.assertGreater(coeficienteVariacion(gaps), CV_MINIMO)
        self.assertLess(coeficienteVariacionRobusto(gaps), 0.05)
        self.assertEqual(coeficienteVariacionRobusto([]), 0.0)
        # For a normal spread it is about the plain CV.
        rng = random.Random(1)
        normal = [round(rng.gauss(200, 50)) for _ in range(5000)]
        self.assertLess(abs(coeficienteVariacionRobusto(normal) - 0.25), 0.02)

    def test_cv(self) -> None:
        self.assertEqual(coeficienteVariacion([]), 0.0)
        self.assertEqual(coeficienteVariacion([0, 0]), 0.0)
        self.assertEqual(coeficienteVariacion([30] * 50), 0.0)
        self.assertAlmostEqual(coeficienteVariacion([50, 150]), 0.5)

    def test_fewIntervalsNotJudged(self) -> None:
        """
        Under 30 intervals the rhythm is not judged; at 30 it is.
        """
        words = ["abcdefghijk"] * 3 + ["x"] * 20

        def game(keys: int) -> Resultado:
            teclas = tuple(100 * (k + 1) for k in range(keys))
            return _result((Evento(teclas[-1], True, 0, teclas),), caracteres=11, wpm=60.0)

        self.assertEqual(judge(words, game(MIN_INTERVALOS)).accion, PUBLICAR)
        self.assertEqual(judge(words, game(MIN_INTERVALOS + 1)).motivo, REVISION)
        self.assertLess(CV_MINIMO, 0.3)


def _result(eventos: tuple[Evento, ...], caracteres: int, wpm: float) -> Resultado:
    return Resultado(
        puntaje=caracteres,
        palabras_ok=len(eventos),
        palabras_falladas=0,
        errores=0,
        caracteres=caracteres,
        duracion_ms=eventos[-1].t,
        wpm=wpm,
        precision=1.0,
        nivel=1,
        vidas_restantes=3,
        eventos=eventos,
    )
