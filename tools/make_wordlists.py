"""Generate the game's word lists from ``wordfreq`` frequencies checked against hunspell.

Writes ``juego/game/words/es.txt`` and ``juego/game/words/en.txt`` (relative to the
repository, not to the working directory): one word per line, UTF-8, NFC, lowercase,
alphabetic only (the language's own alphabet), 3-10 code points, no duplicates, most
frequent first.  The generated files are committed as package data; the tools below are
only needed to regenerate them.

Needs ``wordfreq`` (``pip install -e '.[tools]'``) and Debian's ``hunspell``,
``hunspell-es`` and ``hunspell-en-us`` (``make system-deps`` installs them)::

    python tools/make_wordlists.py            # default: 3500 words per language
    python tools/make_wordlists.py --count 3000
    python tools/make_wordlists.py --report   # also list the dropped words, by reason

A frequent word is kept only when the language's hunspell dictionary accepts it written in
lowercase, which is how the game shows it.  That one check drops:

- proper nouns (``david``, ``lópez``, ``williams``): the dictionary knows them only
  capitalised;
- acronyms (``psoe``): known only in capitals, or not at all;
- Spanish words typed without their accent (``dia``, ``tambien``): the dictionary knows
  only ``día``, ``también``; the unaccented form's frequency is added to the accented
  one, which is kept in its place;
- foreign words (``the`` in Spanish, ``que`` in English): only the other language's
  dictionary accepts them.

A short curated list (``EXCLUDED``) then drops the names and abbreviations the dictionaries
also accept in lowercase (``henry``, ``china``, ``etc``), and a blocklist the words nobody
wants to be asked to type.  Words shorter than 3 or longer than 10 letters are never kept.

The output is deterministic for a given ``wordfreq`` release and pair of dictionaries (the
shipped lists were made with wordfreq 3.1.1, hunspell-es 1:7.5.0-1 and hunspell-en-us
1:2020.12.07-2): ties in frequency keep wordfreq's own order.  ``tests/test_wordlists.py``
checks every shipped word against the installed dictionaries.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

WORDS_DIR = Path(__file__).resolve().parent.parent / "juego" / "game" / "words"
#: Where Debian's hunspell-* packages put their dictionaries.
DICTIONARY_DIR = Path("/usr/share/hunspell")

MIN_LEN = 3
MAX_LEN = 10
DEFAULT_COUNT = 3500
# How many of wordfreq's top words to scan; far more than needed after filtering.
SCAN = 50_000

# The letters a player is expected to type in each language.
ALPHABETS: dict[str, frozenset[str]] = {
    "es": frozenset("abcdefghijklmnopqrstuvwxyzáéíóúüñ"),
    "en": frozenset("abcdefghijklmnopqrstuvwxyz"),
}

#: The hunspell dictionary of each language.
DICTIONARIES: dict[str, str] = {"es": "es_ES", "en": "en_US"}

#: The other language, whose dictionary tells a foreign word from an unknown one.
OTHER: dict[str, str] = {"es": "en", "en": "es"}

# Spanish marks at most one vowel with an acute accent, and may also have a ñ or a ü.
ACUTE = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú"}
OTHER_MARKS = {"n": "ñ", "u": "ü"}


def _split(text: str) -> list[str]:
    return text.split()


# A small, deliberately incomplete blocklist of words nobody wants to be asked to type.
BLOCKLIST: dict[str, frozenset[str]] = {
    "es": frozenset(
        _split(
            """
            puta putas puto putos putita hijueputa mierda mierdas coño joder jodido
            jodida jodidos cabrón cabrones cabrona pendejo pendejos pendeja verga vergas
            culo culos culero polla pollas marica maricas maricón maricones perra perras
            zorra zorras follar follando carajo chingar chinga chingada chingado pinche
            pinches gilipollas mamada mamadas mamón pene penes vagina tetas teta porno
            puteo idiota idiotas imbécil imbéciles estúpido estúpida estúpidos retrasado
            retrasada violación violar violador nazi nazis sexo sexual sexuales semen
            orgasmo masturbar prostituta prostitutas
            """
        )
    ),
    "en": frozenset(
        _split(
            """
            fuck fucks fucked fucker fuckers fucking fuckin motherfucker shit shits
            shitty bullshit bitch bitches bitchy cunt cunts dick dicks cock cocks pussy
            pussies whore whores slut sluts nigga niggas nigger niggers fag fags faggot
            faggots asshole assholes bastard bastards porn porno retard retarded rape
            raped rapist rapes penis anal sex sexy sexual nude nudes naked boobs tits
            titties dildo horny cum crap piss pissed hoe hoes dumbass jackass damn
            goddamn twat wanker idiot idiots stupid nazi nazis semen orgasm masturbate
            prostitute
            """
        )
    ),
}

# Words the dictionary accepts in lowercase, but whose frequency comes from something else: a
# name (people, places, brands, nationalities), an abbreviation, a contraction without its
# apostrophe ("cant"), or a rare Spanish word that is mostly a frequent one typed without
# its accent ("tenia" for "tenía").  The dictionary cannot tell "henry" (a unit) from Henry.
# Deliberately incomplete, like the blocklist; ``--report`` lists the kept words that the
# dictionary also knows capitalised, for review.
EXCLUDED: dict[str, frozenset[str]] = {
    "es": frozenset(
        _split(
            """
            juan luis maría francisco pedro santiago garcía martín jorge diego felipe
            enrique james cristina ramón lucas rivera carmen teresa alonso césar calderón
            gil bolívar castro henry ben man perú brasil cuba japón rusia panamá córdoba
            caracas habana honduras paraguay málaga nicaragua siria corea áfrica
            california castilla roma york art etc máx mio rio sera tenia numero ultimo
            """
        )
    ),
    "en": frozenset(
        _split(
            """
            john peter tom louis mike henry martin lee harry ben tony lewis jimmy kelly
            charlie jane roger anna phil jean ann johnny josh maria billy smith miller
            carter york victoria amazon google twitter trump hong mac ford berlin oxford
            wales japan brazil colorado china english french german dutch bible soviet
            catholic christian roman pacific august iii inc ltd min vol oct sept aug etc
            cant
            """
        )
    ),
}

# Reasons a frequent word is left out, in the order they are tested.
NOT_LETTERS = "not letters (digits, apostrophes, hyphens...)"
NOT_LOWERCASE = "not lowercase"
ALPHABET = "outside the language's alphabet"
LENGTH = f"shorter than {MIN_LEN} or longer than {MAX_LEN}"
BLOCKED = "blocklist"
CURATED = "name, abbreviation or unaccented form the dictionary also accepts (curated)"
PROPER_NOUN = "proper noun (dictionary knows it only capitalised)"
ACRONYM = "acronym (dictionary knows it only in capitals)"
NO_ACCENT = "missing accent (replaced by the accented form)"
FOREIGN = "foreign (only the other language's dictionary accepts it)"
UNKNOWN = "not in the dictionary"


class Hunspell:
    """
    Batch spell checks through Debian's C{hunspell} command.

    One process per batch: C{hunspell -l} reads words and prints the rejected ones.  The
    personal dictionary is pointed at an empty scratch directory, so a user's own
    C{~/.hunspell_*} words cannot leak into the lists.
    """

    def __init__(self, name: str, directory: Path = DICTIONARY_DIR) -> None:
        self.path = directory / name
        if not self.path.with_suffix(".dic").exists():
            raise SystemExit(f"hunspell dictionary {self.path}.dic is missing (make system-deps)")
        self._cache: dict[str, bool] = {}

    def accepted(self, words: Iterable[str]) -> set[str]:
        """The subset of C{words} the dictionary accepts, exactly as written."""
        wanted = set(words)
        todo = sorted(w for w in wanted if w not in self._cache)
        if todo:
            with tempfile.TemporaryDirectory() as scratch:
                done = subprocess.run(
                    [
                        "hunspell",
                        "-i",
                        "utf-8",
                        "-d",
                        str(self.path),
                        "-p",
                        f"{scratch}/none",
                        "-l",
                    ],
                    input="".join(f"{w}\n" for w in todo),
                    capture_output=True,
                    encoding="utf-8",
                    check=True,
                )
            rejected = set(done.stdout.split())
            for w in todo:
                self._cache[w] = w not in rejected
        return {w for w in wanted if self._cache[w]}

    def capitalisedStems(self) -> set[str]:
        """The capitalised stems of the C{.dic} file ("Henry", "May")."""
        lines = self.path.with_suffix(".dic").read_text(encoding="utf-8").splitlines()[1:]
        stems = (line.split("/", 1)[0].strip() for line in lines)
        return {unicodedata.normalize("NFC", s) for s in stems if s[:1].isupper()}


def spanishAccents(word: str) -> list[str]:
    """
    Spellings of C{word} with the marks an unaccented Spanish text leaves out: one acute
    accent, a ñ or ü, or an acute accent together with a ñ or ü.
    """
    acute = [word[:i] + ACUTE[c] + word[i + 1 :] for i, c in enumerate(word) if c in ACUTE]
    marks = [
        word[:i] + OTHER_MARKS[c] + word[i + 1 :] for i, c in enumerate(word) if c in OTHER_MARKS
    ]
    both = [
        m[:i] + ACUTE[c] + m[i + 1 :]
        for m in marks
        for i, c in enumerate(m)
        if c in ACUTE and m[i] == word[i]
    ]
    return list(dict.fromkeys(acute + marks + both))


def shape(word: str, lang: str) -> str | None:
    """Why C{word} can never be in the list of C{lang}, or C{None} when it may be."""
    if not word.isalpha():
        return NOT_LETTERS
    if word != word.lower():
        return NOT_LOWERCASE
    if not set(word) <= ALPHABETS[lang]:
        return ALPHABET
    if not MIN_LEN <= len(word) <= MAX_LEN:
        return LENGTH
    if word in BLOCKLIST[lang]:
        return BLOCKED
    if word in EXCLUDED[lang]:
        return CURATED
    return None


@dataclass
class Built:
    """A generated list and the frequent words left out of it, by reason."""

    words: list[str]
    dropped: dict[str, list[str]] = field(default_factory=dict)
    replaced: dict[str, str] = field(default_factory=dict)
    #: Kept words the dictionary also lists capitalised ("may", "henry"): review these
    #: for names, and add the ones that are to L{EXCLUDED}.
    ambiguous: list[str] = field(default_factory=list)


def build(lang: str, count: int, spellers: dict[str, Hunspell]) -> Built:
    from wordfreq import get_frequency_dict, iter_wordlist  # only needed to regenerate

    frequencies = get_frequency_dict(lang)
    ranked = [unicodedata.normalize("NFC", w) for w in itertools.islice(iter_wordlist(lang), SCAN)]
    rank: dict[str, int] = {}
    for w in ranked:
        rank.setdefault(w, len(rank))
    frequency = {w: frequencies.get(w, 0.0) for w in rank}

    reason: dict[str, str] = {}
    for w in rank:
        why = shape(w, lang)
        if why is not None:
            reason[w] = why
    speller = spellers[lang]
    candidates = [w for w in rank if w not in reason]
    accepted = speller.accepted(candidates)
    rejected = [w for w in candidates if w not in accepted]

    # Tell apart why the dictionary rejects a word, in order: a capitalised or all-caps
    # form it does know, a name the other language's dictionary knows ("paul", which must
    # not count as "paúl"), an accented spelling it knows (Spanish), the other language.
    other = spellers[OTHER[lang]]
    capitalised = speller.accepted(w.capitalize() for w in rejected)
    capitals = speller.accepted(w.upper() for w in rejected)
    foreign = other.accepted(rejected)
    foreignNames = other.accepted(w.capitalize() for w in rejected if w not in foreign)
    variants = {w: spanishAccents(w) if lang == "es" else [] for w in rejected}
    accented = speller.accepted(v for vs in variants.values() for v in vs)
    replaced: dict[str, str] = {}
    for w in rejected:
        known = [v for v in variants[w] if v in accented and shape(v, lang) is None]
        # The most frequent accented spelling stands for the unaccented one too...
        target = min(known, key=lambda v: (-frequencies.get(v, 0.0), v)) if known else None
        # ... unless the word is more often the other language's name ("paul", not "paúl";
        # but "dias" is "días", not Dias).
        accentMissing = target is not None and frequencies.get(target, 0.0) > frequency[w]
        if w.capitalize() in capitalised:
            reason[w] = PROPER_NOUN
        elif w.capitalize() in foreignNames and not accentMissing:
            reason[w] = PROPER_NOUN
        elif w.upper() in capitals:
            reason[w] = ACRONYM
        elif target is not None:
            replaced[w] = target
            reason[w] = NO_ACCENT
        elif w in foreign:
            reason[w] = FOREIGN
        else:
            reason[w] = UNKNOWN

    merged = {w: frequency[w] for w in accepted}
    order = dict(rank)
    for w, target in replaced.items():
        merged[target] = merged.get(target, frequencies.get(target, 0.0)) + frequency[w]
        order.setdefault(target, order[w])
    words = sorted(merged, key=lambda w: (-merged[w], order[w]))[:count]
    if len(words) < count:
        raise SystemExit(f"{lang}: only {len(words)} acceptable words, wanted {count}")

    # Report only what would have made the list: words at least as frequent as the last
    # one kept.
    floor = merged[words[-1]]
    dropped: dict[str, list[str]] = {}
    for w in rank:
        if w in reason and frequency[w] >= floor:
            dropped.setdefault(reason[w], []).append(w)
    stems = speller.capitalisedStems()
    return Built(
        words,
        dropped,
        {w: t for w, t in replaced.items() if frequency[w] >= floor},
        [w for w in words if w.capitalize() in stems],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="words per language")
    parser.add_argument("--out", type=Path, default=WORDS_DIR, help="output directory")
    parser.add_argument(
        "--dictionaries", type=Path, default=DICTIONARY_DIR, help="hunspell dictionary directory"
    )
    parser.add_argument("--report", action="store_true", help="list the dropped words by reason")
    args = parser.parse_args(argv)
    if not 3000 <= args.count <= 4000:
        parser.error("--count must be between 3000 and 4000")
    spellers = {lang: Hunspell(name, args.dictionaries) for lang, name in DICTIONARIES.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    for lang in sorted(ALPHABETS):
        built = build(lang, args.count, spellers)
        path = args.out / f"{lang}.txt"
        path.write_text("".join(f"{w}\n" for w in built.words), encoding="utf-8", newline="\n")
        print(f"{path}: {len(built.words)} words", file=sys.stderr)
        counts = Counter({why: len(ws) for why, ws in built.dropped.items()})
        for why, n in counts.most_common():
            print(f"  dropped {n:5d}  {why}", file=sys.stderr)
            if args.report:
                shown = [
                    f"{w}>{built.replaced[w]}" if w in built.replaced else w
                    for w in built.dropped[why]
                ]
                print(f"      {' '.join(shown)}", file=sys.stderr)
        if args.report:
            print(f"  kept, also known capitalised: {' '.join(built.ambiguous)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
