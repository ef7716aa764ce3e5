"""Tests for juego.game: rules, word lists, drawing and the result verifier."""

from __future__ import annotations

import ast
import itertools
import unicodedata
from importlib.resources import files
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

import juego.game
from juego.game import (
    IDIOMAS,
    REGLAS,
    InvalidResult,
    MalformedEvents,
    Resultado,
    draw_words,
    limite_ms,
    load_words,
    new_seed,
    nivel,
    puntos,
    reglas,
    verify,
)
from juego.game.verifier import MAX_ERRORES, MAX_MS, MAX_TECLAS, MAX_TECLAS_POR_PALABRA, Evento

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Independent re-statement of the rules' formulas, so the tests do not just echo rules.py.
def spec_len(palabra: str) -> int:
    return len(unicodedata.normalize("NFC", palabra))


def spec_nivel(i: int) -> int:
    return 1 + i // 10


def spec_limite(i: int, palabra: str) -> int:
    return 1000 + spec_len(palabra) * max(100, 450 - 50 * (spec_nivel(i) - 1))


def spec_minimo(palabra: str) -> int:
    return 30 * spec_len(palabra)


def ev(
    t: int, ok: bool = True, errores: int = 0, teclas: list[int] | None = None
) -> dict[str, object]:
    """An event; a typed word's keys default to one at 0 ms (legal for any duration)."""
    if teclas is None:
        teclas = [0] if ok else []
    return {"t": t, "ok": ok, "errores": errores, "teclas": teclas}


WORDS = [
    "casa",
    "perro",
    "árbol",
    "niño",
    "sol",
    "camión",
    "pingüino",
    "luz",
    "mesa",
    "río",
    "gato",
    "cielo",
    "agua",
]  # 13 words: 0-9 at level 1, 10-12 at level 2
BIG = 10**9  # an elapsed time that never matters


class RulesTests(SynchronousTestCase):
    def test_reglas_constants(self) -> None:
        expected = {
            "ms_base": 1000,
            "ms_por_letra": 450,
            "paso_nivel": 50,
            "ms_minimo_por_letra": 100,
            "palabras_por_nivel": 10,
            "ms_humano_por_letra": 30,
            "vidas": 3,
        }
        for key, value in expected.items():
            self.assertEqual(REGLAS[key], value, key)
        self.assertEqual(REGLAS.get("palabras_por_partida"), 200)
        copy = reglas()
        self.assertEqual(copy, REGLAS)
        copy["vidas"] = 99
        self.assertEqual(REGLAS["vidas"], 3)

    def test_nivel(self) -> None:
        self.assertEqual([nivel(i) for i in (0, 9, 10, 19, 20, 199)], [1, 1, 2, 2, 3, 20])

    def test_limite(self) -> None:
        self.assertEqual(limite_ms(0, "casa"), 1000 + 4 * 450)
        self.assertEqual(limite_ms(9, "casa"), 1000 + 4 * 450)
        self.assertEqual(limite_ms(10, "casa"), 1000 + 4 * 400)
        self.assertEqual(limite_ms(69, "casa"), 1000 + 4 * 150)
        self.assertEqual(limite_ms(70, "casa"), 1000 + 4 * 100)  # 450 - 350 = 100
        self.assertEqual(limite_ms(80, "casa"), 1000 + 4 * 100)  # floor
        self.assertEqual(limite_ms(199, "casa"), 1000 + 4 * 100)

    def test_length_is_nfc_code_points(self) -> None:
        nfd = unicodedata.normalize("NFD", "niño")
        self.assertEqual(len(nfd), 5)
        self.assertEqual(limite_ms(0, nfd), 1000 + 4 * 450)
        self.assertEqual(puntos(0, nfd), 4)

    def test_puntos(self) -> None:
        self.assertEqual(puntos(0, "camión"), 6)
        self.assertEqual(puntos(10, "camión"), 12)
        self.assertEqual(puntos(25, "sol"), 9)

    def test_no_twisted_import(self) -> None:
        """juego.game is pure Python: no module in it imports Twisted."""
        package = Path(juego.game.__file__).parent
        for source in package.glob("*.py"):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    self.assertFalse(
                        name.split(".")[0] in {"twisted", "klein", "treq"},
                        f"{source}: {name}",
                    )


class WordListTests(SynchronousTestCase):
    def test_lists(self) -> None:
        self.assertEqual(IDIOMAS, ("es", "en"))
        for idioma in IDIOMAS:
            words = load_words(idioma)
            self.assertIsInstance(words, tuple)
            self.assertTrue(3000 <= len(words) <= 4000, (idioma, len(words)))
            self.assertEqual(len(set(words)), len(words), idioma)
            for word in words:
                self.assertTrue(3 <= len(word) <= 10, word)
                self.assertEqual(word, word.lower(), word)
                self.assertEqual(word, unicodedata.normalize("NFC", word), word)
                self.assertTrue(word.isalpha(), word)
        self.assertTrue(set("".join(load_words("en"))) <= set("abcdefghijklmnopqrstuvwxyz"))
        self.assertTrue(any("ñ" in w for w in load_words("es")))

    def test_data_file_is_plain_list(self) -> None:
        """The shipped file is one word a line, UTF-8, nothing else."""
        for idioma in IDIOMAS:
            raw = (files("juego.game") / "words" / f"{idioma}.txt").read_bytes()
            text = raw.decode("utf-8")
            self.assertTrue(text.endswith("\n"))
            self.assertNotIn("\r", text)
            self.assertEqual(tuple(text.splitlines()), load_words(idioma))

    def test_cached(self) -> None:
        self.assertIs(load_words("es"), load_words("es"))

    def test_unknown_idioma(self) -> None:
        for bad in ("fr", "", "ES", "../es"):
            self.assertRaises(ValueError, load_words, bad)
            self.assertRaises(ValueError, draw_words, 1, bad)


class DrawTests(SynchronousTestCase):
    def test_seed(self) -> None:
        seeds = {new_seed() for _ in range(20)}
        self.assertEqual(len(seeds), 20)
        for seed in seeds:
            self.assertIsInstance(seed, int)
            self.assertTrue(0 <= seed < 2**63)

    def test_deterministic(self) -> None:
        for idioma in IDIOMAS:
            first = draw_words(12345, idioma)
            self.assertEqual(len(first), 200)
            self.assertEqual(draw_words(12345, idioma), first)
            self.assertNotEqual(draw_words(12346, idioma), first)
            self.assertTrue(set(first) <= set(load_words(idioma)))
        self.assertNotEqual(draw_words(1, "es"), draw_words(1, "en"))
        self.assertEqual(draw_words(7, "es", 0), [])
        self.assertEqual(len(draw_words(7, "es", 5)), 5)

    @settings(max_examples=50, deadline=None)
    @given(
        st.integers(min_value=0, max_value=2**63 - 1),
        st.sampled_from(IDIOMAS),
        st.integers(min_value=0, max_value=200),
    )
    def test_prefix(self, seed: int, idioma: str, n: int) -> None:
        """
        The first C{n} words of a partida are drawn alone exactly as with the rest (the
        server checks a result drawing only the words it played).
        """
        self.assertEqual(draw_words(seed, idioma, n), draw_words(seed, idioma)[:n])

    @settings(max_examples=50, deadline=None)
    @given(st.integers(min_value=0, max_value=2**63 - 1), st.sampled_from(IDIOMAS))
    def test_no_word_follows_itself(self, seed: int, idioma: str) -> None:
        words = draw_words(seed, idioma)
        self.assertEqual(words, draw_words(seed, idioma))
        for a, b in itertools.pairwise(words):
            self.assertNotEqual(a, b)

    def test_no_word_follows_itself_long(self) -> None:
        """Even when more words are asked for than the list holds."""
        n = len(load_words("es")) + 500
        words = draw_words(99, "es", n)
        self.assertEqual(len(words), n)
        self.assertEqual(words, draw_words(99, "es", n))
        for a, b in itertools.pairwise(words):
            self.assertNotEqual(a, b)

    def test_bad_arguments(self) -> None:
        self.assertRaises(TypeError, draw_words, "1", "es")
        self.assertRaises(TypeError, draw_words, True, "es")
        self.assertRaises(ValueError, draw_words, 1, "es", -1)


class MalformedTests(SynchronousTestCase):
    def assertMalformed(self, eventos: object, palabras: list[str] = WORDS) -> None:
        exc = self.assertRaises(MalformedEvents, verify, palabras, eventos, BIG)
        self.assertIsInstance(exc, ValueError)
        self.assertNotIsInstance(exc, InvalidResult)
        self.assertTrue(str(exc))

    def test_not_a_list(self) -> None:
        for bad in (None, {}, "[]", (ev(2000),), 3):
            self.assertMalformed(bad)

    def test_entry_not_a_dict(self) -> None:
        self.assertMalformed([ev(2000), [2000, True, 0]])
        self.assertMalformed(["t"])

    def test_t(self) -> None:
        for bad in (None, "2000", 2000.0, True, False, -1):
            self.assertMalformed([{"t": bad, "ok": True, "errores": 0, "teclas": [0]}])
        self.assertMalformed([{"ok": True, "errores": 0, "teclas": [0]}])

    def test_ok(self) -> None:
        for bad in (None, 1, 0, "true"):
            self.assertMalformed([{"t": 2000, "ok": bad, "errores": 0, "teclas": [0]}])
        self.assertMalformed([{"t": 2000, "errores": 0, "teclas": [0]}])

    def test_errores(self) -> None:
        for bad in (None, -1, 1.0, "0", True):
            self.assertMalformed([{"t": 2000, "ok": True, "errores": bad, "teclas": [0]}])
        self.assertMalformed([{"t": 2000, "ok": True, "teclas": [0]}])

    def test_teclas(self) -> None:
        for bad in (None, 0, "[]", {}, [None], ["1"], [1.0], [True], [-1], [5, 4]):
            self.assertMalformed([{"t": 2000, "ok": True, "errores": 0, "teclas": bad}])
        self.assertMalformed([{"t": 2000, "ok": True, "errores": 0}])
        # A typed word has at least one key; a missed one may have none.
        self.assertMalformed([ev(2000, teclas=[])])
        self.assertEqual(verify(["casa"], [ev(2900, ok=False)], BIG).palabras_falladas, 1)

    def test_huge_numbers(self) -> None:
        """Every number is bounded: huge ones are a bad request, and cost nothing."""
        for huge in (10**4000, 2**63, MAX_MS + 1):
            self.assertMalformed([ev(huge)])
            self.assertMalformed([ev(2000, teclas=[huge])])
        for huge in (10**4000, MAX_ERRORES + 1):
            self.assertMalformed([ev(2000, errores=huge)])
        self.assertMalformed([ev(2000, teclas=[0] * (MAX_TECLAS_POR_PALABRA + 1))])
        many = [0] * (MAX_TECLAS // 10 + 1)
        self.assertMalformed([ev(2000, teclas=many)] * 10, palabras=["casa"] * 10)
        # At the bounds: accepted by the shape check (the rules then judge the timing).
        result = verify(["casa"], [ev(2000, errores=MAX_ERRORES, teclas=[0] * 1000)], BIG)
        self.assertEqual(result.errores, MAX_ERRORES)

    def test_keys_kept(self) -> None:
        result = verify(["casa"], [ev(2000, errores=1, teclas=[300, 300, 900, 2000])], BIG)
        self.assertEqual(result.eventos, (Evento(2000, True, 1, (300, 300, 900, 2000)),))
        self.assertEqual(
            result.eventos[0].toJSON(),
            {"t": 2000, "ok": True, "errores": 1, "teclas": [300, 300, 900, 2000]},
        )

    def test_too_many_entries(self) -> None:
        self.assertMalformed([ev(2000)] * 2, palabras=["casa"])
        self.assertMalformed([ev(2000)] * 10_001, palabras=["casa"] * 20_000)

    def test_extra_fields_ignored(self) -> None:
        result = verify(["casa"], [{**ev(2000), "x": 1}], BIG)
        self.assertEqual(result.puntaje, 4)


class VerifyTests(SynchronousTestCase):
    def assertInvalid(self, palabras: list[str], eventos: list, elapsed: int = BIG) -> str:
        exc = self.assertRaises(InvalidResult, verify, palabras, eventos, elapsed)
        self.assertIsInstance(exc, ValueError)
        self.assertTrue(exc.rule)
        self.assertEqual(str(exc), exc.rule)
        return exc.rule

    def test_empty_is_legal(self) -> None:
        self.assertEqual(
            verify(WORDS, [], 0),
            Resultado(
                puntaje=0,
                palabras_ok=0,
                palabras_falladas=0,
                errores=0,
                caracteres=0,
                duracion_ms=0,
                wpm=0.0,
                precision=1.0,
                nivel=1,
                vidas_restantes=3,
            ),
        )
        self.assertEqual(verify([], [], 0).puntaje, 0)

    def test_ok_human_minimum_boundary(self) -> None:
        # "casa": 30 x 4 = 120 ms
        self.assertEqual(verify(["casa"], [ev(120)], BIG).puntaje, 4)
        rule = self.assertInvalid(["casa"], [ev(119)])
        self.assertIn("palabra 1", rule)
        self.assertIn("119 ms < 120 ms", rule)
        # measured from the previous event, not from 0
        self.assertEqual(verify(["casa", "sol"], [ev(500), ev(590)], BIG).puntaje, 7)
        rule = self.assertInvalid(["casa", "sol"], [ev(500), ev(589)])
        self.assertIn("palabra 2", rule)

    def test_ok_limit_boundary(self) -> None:
        limite = 1000 + 4 * 450
        self.assertEqual(verify(["casa"], [ev(limite)], BIG).puntaje, 4)
        rule = self.assertInvalid(["casa"], [ev(limite + 1)])
        self.assertIn("palabra 1", rule)
        self.assertIn(f"{limite + 1} ms > {limite} ms", rule)

    def test_ok_limit_boundary_level_2(self) -> None:
        palabras = ["sol"] * 10 + ["casa"]
        eventos = [ev(1000 * (k + 1)) for k in range(10)]
        limite = 1000 + 4 * 400
        self.assertEqual(
            verify(palabras, eventos + [ev(10_000 + limite)], BIG).puntaje,
            10 * 3 + 4 * 2,
        )
        rule = self.assertInvalid(palabras, eventos + [ev(10_000 + limite + 1)])
        self.assertIn("palabra 11", rule)

    def test_missed_boundary(self) -> None:
        limite = 1000 + 4 * 450
        result = verify(["casa"], [ev(limite - 50, ok=False)], BIG)
        self.assertEqual((result.puntaje, result.vidas_restantes), (0, 2))
        self.assertEqual(result.palabras_falladas, 1)
        rule = self.assertInvalid(["casa"], [ev(limite - 51, ok=False)])
        self.assertIn("palabra 1", rule)
        self.assertIn(f"{limite - 51} ms < {limite - 50} ms", rule)
        # A missed word has no upper bound other than the clock.
        self.assertEqual(verify(["casa"], [ev(60_000, ok=False)], BIG).vidas_restantes, 2)

    def test_third_life(self) -> None:
        palabras = ["sol", "sol", "luz", "casa", "mesa"]
        lim = 1000 + 3 * 450
        missed3 = [ev(lim, False), ev(2 * lim, False), ev(3 * lim, False)]
        result = verify(palabras, missed3, BIG)
        self.assertEqual(result.vidas_restantes, 0)
        self.assertEqual(result.palabras_falladas, 3)
        rule = self.assertInvalid(palabras, missed3 + [ev(3 * lim + 1000)])
        self.assertIn("palabra 4", rule)
        self.assertIn("vida", rule)
        self.assertInvalid(palabras, missed3 + [ev(3 * lim + 5000, False)])
        # Two lives lost: the game goes on.
        result = verify(palabras, missed3[:2] + [ev(2 * lim + 500)], BIG)
        self.assertEqual((result.puntaje, result.vidas_restantes), (3, 1))

    def test_no_lives(self) -> None:
        """Practice (C{vidas=None}): every word may be missed, the game goes on."""
        palabras = ["sol", "sol", "luz", "sal", "mesa"]
        lim = 1000 + 3 * 450
        missed4 = [ev(lim, False), ev(2 * lim, False), ev(3 * lim, False), ev(4 * lim, False)]
        result = verify(palabras, missed4 + [ev(4 * lim + 1000)], BIG, vidas=None)
        self.assertEqual((result.palabras_falladas, result.puntaje), (4, 4))
        self.assertIsNone(result.vidas_restantes)
        # The same game with lives ended at the third miss.
        self.assertInvalid(palabras, missed4 + [ev(4 * lim + 1000)])

    def test_elapsed_boundary(self) -> None:
        eventos = [ev(2000), ev(4000)]
        self.assertEqual(verify(["casa", "mesa"], eventos, 2000).puntaje, 8)
        rule = self.assertInvalid(["casa", "mesa"], eventos, 1999)
        self.assertIn("4000 ms", rule)

    def test_negative_d(self) -> None:
        rule = self.assertInvalid(["casa", "mesa"], [ev(2000), ev(1000)])
        self.assertIn("palabra 2", rule)
        self.assertInvalid(["casa", "mesa"], [ev(2000), ev(2000)])
        self.assertInvalid(["casa", "mesa"], [ev(3000, False), ev(1000, False)])

    def test_statistics(self) -> None:
        palabras = ["casa", "camión", "sol", "árbol"]
        eventos = [
            ev(2000, errores=1),
            ev(3000 + 1000 + 6 * 450, ok=False, errores=4),
            ev(3000 + 1000 + 6 * 450 + 1300, errores=0),
        ]
        result = verify(palabras, eventos, BIG)
        duracion = 3000 + 1000 + 6 * 450 + 1300
        self.assertEqual(result.puntaje, 4 + 3)
        self.assertEqual(result.palabras_ok, 2)
        self.assertEqual(result.palabras_falladas, 1)
        self.assertEqual(result.errores, 5)
        self.assertEqual(result.caracteres, 7)
        self.assertEqual(result.duracion_ms, duracion)
        self.assertEqual(result.wpm, round((7 / 5) / (duracion / 60_000), 1))
        self.assertEqual(result.precision, round(7 / 12, 3))
        self.assertEqual(result.nivel, 1)
        self.assertEqual(result.vidas_restantes, 2)

    def test_nfd_words(self) -> None:
        nfd = unicodedata.normalize("NFD", "niño")
        self.assertEqual(verify([nfd], [ev(120)], BIG).puntaje, 4)
        self.assertInvalid([nfd], [ev(119)])


# -- property-based -----------------------------------------------------------------------


@st.composite
def legal_games(draw, min_events: int = 0, game_over: bool = False):
    """A partida and a legal event list, built from the rules, with its expected result.

    The player types or misses each word at random and stops anywhere, or when the lives
    run out.  With ``game_over`` the game always ends by losing the last life, with words
    left over.
    """
    seed = draw(st.integers(min_value=0, max_value=2**63 - 1))
    idioma = draw(st.sampled_from(IDIOMAS))
    spare = 4 if game_over else 0  # words kept for the forced misses + one more
    n_words = draw(st.integers(min_value=max(1, min_events, spare), max_value=200))
    palabras = draw_words(seed, idioma, n_words)
    stop_at = draw(
        st.integers(min_value=min(min_events, n_words - spare), max_value=n_words - spare)
    )
    eventos: list[dict[str, object]] = []
    t = 0
    lives = 3
    score = 0
    for i in range(stop_at):
        palabra = palabras[i]
        limite = spec_limite(i, palabra)
        ok = draw(st.booleans())
        if ok:
            d = draw(st.integers(min_value=spec_minimo(palabra), max_value=limite))
            score += spec_len(palabra) * spec_nivel(i)
        else:
            d = draw(st.integers(min_value=limite - 50, max_value=limite + 3000))
        t += d
        teclas = sorted(draw(st.lists(st.integers(0, d), min_size=1 if ok else 0, max_size=12)))
        eventos.append(ev(t, ok, draw(st.integers(min_value=0, max_value=30)), teclas))
        if not ok:
            lives -= 1
            if lives == 0:
                break
    while game_over and lives > 0:
        i = len(eventos)
        t += spec_limite(i, palabras[i])
        eventos.append(ev(t, False))
        lives -= 1
    elapsed = draw(st.integers(min_value=max(0, t - 2000), max_value=t + 10_000))
    return palabras, eventos, elapsed, score, lives


def shifted(eventos: list, j: int, delta: int) -> list:
    """Move event ``j`` and every later one by ``delta`` ms (only d_j changes)."""
    return [dict(e, t=e["t"] + delta) if k >= j else dict(e) for k, e in enumerate(eventos)]


class PropertyTests(SynchronousTestCase):
    @HYPOTHESIS
    @given(legal_games())
    def test_legal_games_verify(self, game) -> None:
        palabras, eventos, elapsed, score, lives = game
        result = verify(palabras, eventos, elapsed)
        self.assertEqual(result.puntaje, score)
        self.assertEqual(result.vidas_restantes, lives)
        self.assertEqual(result.palabras_ok + result.palabras_falladas, len(eventos))
        self.assertEqual(result.duracion_ms, eventos[-1]["t"] if eventos else 0)
        self.assertEqual(result.errores, sum(e["errores"] for e in eventos))
        self.assertTrue(0.0 <= result.precision <= 1.0)
        self.assertTrue(result.wpm >= 0.0)

    @HYPOTHESIS
    @given(legal_games(min_events=1), st.data())
    def test_too_fast_refused(self, game, data) -> None:
        palabras, eventos, elapsed, _, _ = game
        oks = [k for k, e in enumerate(eventos) if e["ok"]]
        assume(oks)
        j = data.draw(st.sampled_from(oks))
        d = eventos[j]["t"] - (eventos[j - 1]["t"] if j else 0)
        target = data.draw(st.integers(min_value=0, max_value=spec_minimo(palabras[j]) - 1))
        bad = shifted(eventos, j, target - d)
        exc = self.assertRaises(InvalidResult, verify, palabras, bad, elapsed)
        self.assertIn(f"palabra {j + 1} ", exc.rule)

    @HYPOTHESIS
    @given(legal_games(min_events=1), st.data())
    def test_too_slow_refused(self, game, data) -> None:
        palabras, eventos, elapsed, _, _ = game
        oks = [k for k, e in enumerate(eventos) if e["ok"]]
        assume(oks)
        j = data.draw(st.sampled_from(oks))
        d = eventos[j]["t"] - (eventos[j - 1]["t"] if j else 0)
        limite = spec_limite(j, palabras[j])
        target = data.draw(st.integers(min_value=limite + 1, max_value=limite + 5000))
        bad = shifted(eventos, j, target - d)
        exc = self.assertRaises(InvalidResult, verify, palabras, bad, elapsed + target - d)
        self.assertIn(f"palabra {j + 1} ", exc.rule)

    @HYPOTHESIS
    @given(legal_games(min_events=1), st.data())
    def test_missed_too_early_refused(self, game, data) -> None:
        palabras, eventos, elapsed, _, _ = game
        missed = [k for k, e in enumerate(eventos) if not e["ok"]]
        assume(missed)
        j = data.draw(st.sampled_from(missed))
        d = eventos[j]["t"] - (eventos[j - 1]["t"] if j else 0)
        limite = spec_limite(j, palabras[j])
        target = data.draw(st.integers(min_value=0, max_value=limite - 51))
        bad = shifted(eventos, j, target - d)
        exc = self.assertRaises(InvalidResult, verify, palabras, bad, elapsed)
        self.assertIn(f"palabra {j + 1} ", exc.rule)

    @HYPOTHESIS
    @given(legal_games(min_events=2), st.data())
    def test_reordered_refused(self, game, data) -> None:
        palabras, eventos, elapsed, _, _ = game
        j = data.draw(st.integers(min_value=0, max_value=len(eventos) - 2))
        bad = list(eventos)
        bad[j], bad[j + 1] = bad[j + 1], bad[j]
        self.assertRaises(InvalidResult, verify, palabras, bad, elapsed)

    @HYPOTHESIS
    @given(legal_games(game_over=True), st.booleans(), st.integers(0, 60_000))
    def test_after_game_over_refused(self, game, ok, d) -> None:
        palabras, eventos, _, _, lives = game
        self.assertEqual(lives, 0)
        self.assertEqual(verify(palabras, eventos, eventos[-1]["t"]).vidas_restantes, 0)
        t = eventos[-1]["t"] + d
        bad = eventos + [ev(t, ok)]
        exc = self.assertRaises(InvalidResult, verify, palabras, bad, t)
        self.assertIn(f"palabra {len(eventos) + 1}:", exc.rule)

    @HYPOTHESIS
    @given(legal_games(min_events=1), st.data())
    def test_key_after_word_refused(self, game, data) -> None:
        palabras, eventos, elapsed, _, _ = game
        j = data.draw(st.integers(min_value=0, max_value=len(eventos) - 1))
        d = eventos[j]["t"] - (eventos[j - 1]["t"] if j else 0)
        late = data.draw(st.integers(min_value=d + 1, max_value=d + 10_000))
        bad = [dict(e) for e in eventos]
        bad[j]["teclas"] = [*bad[j]["teclas"], late]
        exc = self.assertRaises(InvalidResult, verify, palabras, bad, elapsed)
        self.assertIn(f"palabra {j + 1} ", exc.rule)

    @HYPOTHESIS
    @given(legal_games(min_events=1), st.integers(min_value=1, max_value=100_000))
    def test_clock_refused(self, game, short) -> None:
        palabras, eventos, _, _, _ = game
        elapsed = eventos[-1]["t"] - 2000 - short
        exc = self.assertRaises(InvalidResult, verify, palabras, eventos, elapsed)
        self.assertIn(f"{eventos[-1]['t']} ms", exc.rule)


class EventosJSONTests(SynchronousTestCase):
    def test_keptOrRebuilt(self) -> None:
        """
        The events a result keeps: the client's own object when it holds exactly the
        verified fields, rebuilt without the extra ones otherwise.
        """
        from juego.game.verifier import eventosJSON

        palabras = draw_words(3, "es", 2)
        exact = {"t": 5000, "ok": False, "errores": 0, "teclas": []}
        extra = {"t": 10000, "ok": False, "errores": 1, "teclas": [10], "nota": "<b>x</b>"}
        raw = [exact, extra]
        resultado = verify(palabras, raw, 10**7, 3)
        kept = eventosJSON(raw, resultado.eventos)
        self.assertIs(kept[0], exact)
        self.assertEqual(kept[1], {"t": 10000, "ok": False, "errores": 1, "teclas": [10]})
        self.assertEqual(
            eventosJSON("not a list", resultado.eventos), [e.toJSON() for e in resultado.eventos]
        )
