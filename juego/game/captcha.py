"""
The certification test's text and image (docs/SECURITY.md, "The ranking: human results only").

A player whose result is held for certification types a short text that exists only as a
server-rendered, distorted image, and the server times it. This module is the pure part:
drawing the text from the game's word lists, rendering it so that a person reads it at a
glance on a phone while a script has to do real optical character recognition first, and
scoring what was typed. It imports Pillow but nothing from Twisted; every random choice
comes from the C{rng} the caller passes, so a seeded one gives the same text and the same
image (any web node can render a test another node created).

The font is the one Pillow ships (C{ImageFont.load_default(size=...)}, Pillow >= 10.1), so
there is no dependency on the system's fonts.
"""

from __future__ import annotations

import difflib
import functools
import io
import math
import random
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from juego.game.words import load_words

__all__ = [
    "OBJETIVO",
    "PALABRAS_MAX",
    "PALABRAS_MIN",
    "PRECISION_MINIMA",
    "makeText",
    "normalise",
    "renderImage",
    "scoreAttempt",
]

#: To pass, the player types the image's text at this share of the held speed (reading a
#: distorted image costs time that a game's words do not) ...
OBJETIVO = 0.75
#: ... with at least this share of the characters right.
PRECISION_MINIMA = 0.95

#: How many words a test has: long enough that a burst of luck does not pass it, short
#: enough to take a human typist well under a minute.
PALABRAS_MIN, PALABRAS_MAX = 15, 20
#: Words are drawn from the most frequent ones (the lists are in frequency order), 3-9
#: letters long: common words read at a glance even when distorted. Only words of plain
#: a-z: the font Pillow ships has no accented letters (and typing a distorted accent is a
#: test of eyesight, not of speed).
_VOCABULARIO = 2000
_LETRAS_MIN, _LETRAS_MAX = 3, 9

#: The image's geometry. 600 px wide so that, scaled down to a 390 px phone screen (about
#: 330 px of it), the letters are still more than 20 px high.
ANCHO = 600
_MARGEN = 28
_TAMANO_LETRA = 40
_ALTO_LINEA = 68
#: Glyphs are spread by 4-14 % (jittered), and a space is 1.7 times as wide, so that the
#: word gaps stay obvious to a reader whatever the jitter does.
_ESPACIADO_MIN, _ESPACIADO_MAX = 1.04, 1.14
_ESPACIO = 1.7


def normalise(text: str) -> str:
    """
    The form texts are compared in: NFC, runs of whitespace (newlines from a textarea
    included) folded to one space, trimmed.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def makeText(rng: random.Random, idioma: str) -> str:
    """
    A test text: L{PALABRAS_MIN}-L{PALABRAS_MAX} common words of C{idioma}'s list, no word
    twice, separated by single spaces.
    """
    candidates = [
        w
        for w in load_words(idioma)[:_VOCABULARIO]
        if _LETRAS_MIN <= len(w) <= _LETRAS_MAX and w.isascii() and w.isalpha()
    ]
    count = rng.randint(PALABRAS_MIN, PALABRAS_MAX)
    return " ".join(rng.sample(candidates, count))


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _lines(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> list[str]:
    """
    Wrap C{text} to the image's width (with room for the per-glyph jitter).
    """
    room = ANCHO - 2 * _MARGEN - 24
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) * _ESPACIADO_MAX > room:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _colour(rng: random.Random) -> tuple[int, int, int]:
    # Dark, varied ink: enough contrast to read, no single colour to threshold on.
    return (rng.randint(10, 90), rng.randint(10, 80), rng.randint(30, 120))


def renderImage(text: str, rng: random.Random, distortion: float = 1.0) -> bytes:
    """
    C{text} as a PNG: each glyph in its own ink, rotated and shifted a little, the whole
    bent by a wave, crossed by curves and sprinkled with dots. C{distortion} scales every
    effect (0 gives a plain rendering, for comparison in tests).
    """
    font = _font(_TAMANO_LETRA)
    lines = _lines(text, font)
    height = 2 * _MARGEN + _ALTO_LINEA * len(lines)
    background = (rng.randint(236, 250), rng.randint(234, 248), rng.randint(226, 242))
    image = Image.new("RGB", (ANCHO, height), background)

    # Faint background speckle under the text.
    draw = ImageDraw.Draw(image)
    for _ in range(int(900 * distortion)):
        px, py = rng.randrange(ANCHO), rng.randrange(height)
        shade = rng.randint(170, 215)
        draw.point((px, py), fill=(shade, shade, shade + rng.randint(0, 30)))

    for row, line in enumerate(lines):
        x = float(_MARGEN + rng.uniform(0, 10) * distortion)
        baseline = _MARGEN + row * _ALTO_LINEA
        for char in line:
            advance = font.getlength(char)
            if char == " ":
                x += advance * (1 + (_ESPACIO - 1) * distortion)
                continue
            _pasteGlyph(image, font, char, x, baseline, rng, distortion)
            spread = rng.uniform(_ESPACIADO_MIN, _ESPACIADO_MAX) - 1
            x += advance * (1 + spread * distortion)

    if distortion:
        image = _wave(image, rng, distortion, background)
        _noise(image, rng, distortion)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _pasteGlyph(
    image: Image.Image,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    char: str,
    x: float,
    top: int,
    rng: random.Random,
    distortion: float,
) -> None:
    """
    Draw one glyph on its own transparent tile, rotate it, and paste it with a jitter.
    """
    size = _TAMANO_LETRA * 2
    tile = Image.new("L", (size, size), 0)
    ImageDraw.Draw(tile).text((size // 4, size // 4), char, font=font, fill=255)
    angle = rng.uniform(-14, 14) * distortion
    if angle:
        tile = tile.rotate(angle, resample=Image.Resampling.BICUBIC, center=(size // 2, size // 2))
    dx = rng.uniform(-1.5, 1.5) * distortion
    dy = rng.uniform(-5, 5) * distortion
    ink = Image.new("RGB", (size, size), _colour(rng) if distortion else (20, 20, 40))
    image.paste(ink, (round(x + dx - size // 4), round(top + dy - size // 4 + 6)), tile)


def _wave(
    image: Image.Image, rng: random.Random, distortion: float, background: tuple[int, int, int]
) -> Image.Image:
    """
    Bend the image: each 2 px column moves up or down along a sine, and each row left or
    right along another, so that baselines are curves and no column lines up.
    """
    width, height = image.size
    amplitude = rng.uniform(4, 7) * distortion
    period = rng.uniform(110, 170)
    phase = rng.uniform(0, 2 * math.pi)
    bent = Image.new("RGB", image.size, background)
    for x in range(0, width, 2):
        shift = round(amplitude * math.sin(2 * math.pi * x / period + phase))
        bent.paste(image.crop((x, 0, x + 2, height)), (x, shift))
    amplitude = rng.uniform(2, 4) * distortion
    period = rng.uniform(40, 70)
    phase = rng.uniform(0, 2 * math.pi)
    sheared = Image.new("RGB", image.size, background)
    for y in range(0, height, 2):
        shift = round(amplitude * math.sin(2 * math.pi * y / period + phase))
        sheared.paste(bent.crop((0, y, width, y + 2)), (shift, y))
    return sheared


def _noise(image: Image.Image, rng: random.Random, distortion: float) -> None:
    """
    Curves across the text in the text's own kind of ink, and dots: thin enough that the
    eye skips them, close enough to the glyphs that a segmenter does not.
    """
    width, height = image.size
    draw = ImageDraw.Draw(image)
    for _ in range(round((4 + height // 60) * distortion)):
        y0 = rng.uniform(0, height)
        slope = rng.uniform(-0.15, 0.15)
        amplitude, period = rng.uniform(4, 14), rng.uniform(80, 260)
        phase = rng.uniform(0, 2 * math.pi)
        points = [
            (x, y0 + slope * x + amplitude * math.sin(2 * math.pi * x / period + phase))
            for x in range(0, width + 8, 8)
        ]
        draw.line(points, fill=_colour(rng), width=rng.choice((1, 2)))
    for _ in range(round(260 * distortion)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.6, 1.8)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng))


def scoreAttempt(shown: str, typed: str, elapsedMs: int) -> tuple[float, float]:
    """
    How an attempt went: C{(wpm, precision)}.

    Both texts are compared after L{normalise}. The correct characters are those in the
    longest matching blocks of the two (difflib, no junk heuristic); precision is their
    share of the longer text, so both missing and extra characters cost. Speed counts
    only correct characters: wpm = correct / 5 per minute of C{elapsedMs}.
    """
    a, b = normalise(shown), normalise(typed)
    if not a or not b:
        return 0.0, 0.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    correct = sum(block.size for block in matcher.get_matching_blocks())
    precision = correct / max(len(a), len(b))
    minutes = max(elapsedMs, 1) / 60000
    return correct / 5 / minutes, precision
