"""
The certification test's pure part: its text, its image and the score of an attempt.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageChops, ImageStat
from twisted.trial.unittest import SynchronousTestCase

from juego.game import IDIOMAS, load_words
from juego.game.captcha import (
    ANCHO,
    PALABRAS_MAX,
    PALABRAS_MIN,
    makeText,
    normalise,
    renderImage,
    scoreAttempt,
)


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


class TextTests(SynchronousTestCase):
    def test_wordsFromTheList(self):
        for idioma in IDIOMAS:
            words = set(load_words(idioma))
            for seed in range(30):
                text = makeText(random.Random(seed), idioma)
                parts = text.split(" ")
                self.assertTrue(PALABRAS_MIN <= len(parts) <= PALABRAS_MAX, text)
                self.assertEqual(len(set(parts)), len(parts))
                for word in parts:
                    self.assertIn(word, words)
                    # The shipped font has no accents: plain lowercase a-z only.
                    self.assertRegex(word, r"^[a-z]{3,9}$")

    def test_deterministic(self):
        self.assertEqual(makeText(random.Random(7), "es"), makeText(random.Random(7), "es"))
        self.assertNotEqual(makeText(random.Random(7), "es"), makeText(random.Random(8), "es"))


class ImageTests(SynchronousTestCase):
    text = "mensaje cola canal roja abuela deuda figura estado flores civil animal toda"

    def test_decodes(self):
        image = decode(renderImage(self.text, random.Random(1)))
        self.assertEqual(image.format, "PNG")
        self.assertEqual(image.width, ANCHO)
        # Several lines of text: taller than one line, not absurdly tall.
        self.assertTrue(120 < image.height < 600, image.size)

    def test_deterministic(self):
        self.assertEqual(
            renderImage(self.text, random.Random(3)), renderImage(self.text, random.Random(3))
        )
        self.assertNotEqual(
            renderImage(self.text, random.Random(3)), renderImage(self.text, random.Random(4))
        )

    def test_distorted(self):
        """
        The distorted image differs from a plain rendering of the same text well beyond a
        few pixels: glyphs moved, bent and crossed.
        """
        plain = decode(renderImage(self.text, random.Random(5), distortion=0)).convert("L")
        bent = decode(renderImage(self.text, random.Random(5))).convert("L")
        self.assertEqual(plain.size, bent.size)
        diff = ImageChops.difference(plain, bent).point(lambda v: 255 if v > 60 else 0)
        changed = ImageStat.Stat(diff).mean[0] / 255
        self.assertGreater(changed, 0.05)

    def test_hasInk(self):
        """
        Not a blank picture: a good share of dark pixels (the text).
        """
        image = decode(renderImage(self.text, random.Random(6))).convert("L")
        dark = sum(1 for v in image.getdata() if v < 128) / (image.width * image.height)
        self.assertGreater(dark, 0.03)


class ScoreTests(SynchronousTestCase):
    shown = "hola mundo casa perro gato"  # 26 characters

    def test_exactAndTimed(self):
        wpm, precision = scoreAttempt(self.shown, self.shown, 6000)
        self.assertEqual(precision, 1.0)
        self.assertAlmostEqual(wpm, 26 / 5 / 0.1)

    def test_normalised(self):
        """
        Whitespace runs (a textarea's newlines) and composed/decomposed forms are equal.
        """
        typed = "  hola\nmundo   casa\tperro gato \n"
        self.assertEqual(scoreAttempt(self.shown, typed, 6000)[1], 1.0)
        self.assertEqual(normalise("cafe\u0301"), normalise("caf\u00e9"))

    def test_errorsCost(self):
        _, precision = scoreAttempt(self.shown, "hola mundo casa perro", 6000)
        self.assertAlmostEqual(precision, 21 / 26)
        wpm, precision = scoreAttempt(self.shown, "hola mundo cosa perro gato", 6000)
        self.assertAlmostEqual(precision, 25 / 26)
        self.assertAlmostEqual(wpm, 25 / 5 / 0.1)

    def test_extraTextCosts(self):
        """
        Typing more than shown (say, every word of the list) does not score.
        """
        _, precision = scoreAttempt(self.shown, self.shown + " " + self.shown, 6000)
        self.assertLess(precision, 0.6)

    def test_empty(self):
        self.assertEqual(scoreAttempt(self.shown, "", 6000), (0.0, 0.0))
        self.assertEqual(scoreAttempt(self.shown, "   ", 6000), (0.0, 0.0))

    def test_instantIsHuge(self):
        wpm, _ = scoreAttempt(self.shown, self.shown, 0)
        self.assertGreater(wpm, 1000)
