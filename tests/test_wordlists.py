"""
The shipped word lists hold only words a player should be asked to type.

Every word must be one that Debian's hunspell dictionary of its language (C{hunspell-es},
C{hunspell-en-us}) accepts written in lowercase, as the game shows it: that rules out
proper nouns and acronyms (known only capitalised), Spanish words missing their accent and
foreign words.  The dictionary test skips when C{hunspell} or a dictionary is missing,
unless C{JUEGO_REQUIRE_DICTIONARIES} is set (CI; C{make test} installs them), where that is
a failure.  The lists are made by C{tools/make_wordlists.py}.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from unittest import SkipTest

from twisted.trial.unittest import SynchronousTestCase

from juego.game import IDIOMAS, load_words

DICTIONARY_DIR = Path("/usr/share/hunspell")
DICTIONARIES = {"es": "es_ES", "en": "en_US"}

#: Words the issue found in the lists: unaccented Spanish, proper nouns, acronyms.
BAD = {
    "es": [
        "dia",
        "tambien",
        "despues",
        "asi",
        "aqui",
        "habia",
        "psoe",
        "michael",
        "lópez",
        "david",
    ],
    "en": ["williams", "david", "michael", "usa", "june"],
}
#: The accented forms the unaccented ones stand for: frequent, so they must be there.
ACCENTED = ["día", "también", "después", "así", "aquí", "había"]


def dictionariesRequired() -> bool:
    return bool(os.environ.get("JUEGO_REQUIRE_DICTIONARIES"))


def unavailable(reason: str) -> None:
    if dictionariesRequired():
        raise AssertionError(
            f"the hunspell dictionaries are required (JUEGO_REQUIRE_DICTIONARIES) but {reason}"
        )
    raise SkipTest(reason)


def dictionaryPath(idioma: str) -> Path:
    """
    The hunspell dictionary of C{idioma}, skipping (or failing, in CI) when it is missing.
    """
    if shutil.which("hunspell") is None:
        unavailable("the hunspell command is not installed (Debian package hunspell)")
    path = DICTIONARY_DIR / DICTIONARIES[idioma]
    for suffix in (".dic", ".aff"):
        if not path.with_suffix(suffix).exists():
            unavailable(f"{path}{suffix} is missing (Debian hunspell-es / hunspell-en-us)")
    return path


def rejected(idioma: str, words: Iterable[str]) -> list[str]:
    """
    The words among C{words} that the dictionary of C{idioma} rejects, exactly as written.

    The personal dictionary points into an empty scratch directory: words a user added to
    C{~/.hunspell_*} must not make a bad list pass.
    """
    path = dictionaryPath(idioma)
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            ["hunspell", "-i", "utf-8", "-d", str(path), "-p", f"{scratch}/none", "-l"],
            input="".join(f"{w}\n" for w in words),
            capture_output=True,
            encoding="utf-8",
            check=True,
            timeout=120,
        )
    return sorted(set(done.stdout.split()))


class DictionaryTests(SynchronousTestCase):
    """
    Every shipped word is one the language's dictionary knows in lowercase.
    """

    def test_checker_rejects_bad_words(self) -> None:
        """
        The check can fail: the dictionary rejects the bad words the old lists had (and
        accepts their accented or capitalised forms, so it is the right dictionary).
        """
        for idioma, bad in BAD.items():
            self.assertEqual(rejected(idioma, bad), sorted(bad), idioma)
        self.assertEqual(rejected("es", ACCENTED + ["López", "David"]), [])
        self.assertEqual(rejected("en", ["Williams", "June", "USA", "color"]), [])

    def test_every_word_in_dictionary(self) -> None:
        for idioma in IDIOMAS:
            self.assertEqual(rejected(idioma, load_words(idioma)), [], idioma)


class ContentTests(SynchronousTestCase):
    """
    The lists, as shipped, without a dictionary.
    """

    def test_known_bad_words_absent(self) -> None:
        for idioma, bad in BAD.items():
            words = set(load_words(idioma))
            self.assertEqual(sorted(words & set(bad)), [], idioma)
        # Names the dictionaries also know in lowercase ("henry" the unit, "china" the
        # porcelain) are left out by tools/make_wordlists.py's curated list.
        self.assertEqual(
            sorted(set(load_words("es")) & {"juan", "garcía", "henry", "etc", "tenia"}), []
        )
        self.assertEqual(sorted(set(load_words("en")) & {"john", "google", "china", "etc"}), [])

    def test_accented_forms_present(self) -> None:
        words = set(load_words("es"))
        self.assertEqual([w for w in ACCENTED if w not in words], [])

    def test_nfc_lowercase_unique(self) -> None:
        """The files themselves, not only L{load_words}, which normalises."""
        for idioma in IDIOMAS:
            text = (files("juego.game") / "words" / f"{idioma}.txt").read_text(encoding="utf-8")
            words = text.splitlines()
            self.assertEqual(len(words), 3500, idioma)
            self.assertEqual(len(set(words)), len(words), idioma)
            for word in words:
                self.assertEqual(word, unicodedata.normalize("NFC", word), word)
                self.assertEqual(word, word.lower(), word)
                self.assertTrue(word.isalpha() and len(word) >= 3, word)
