"""Generate the game's word lists from ``wordfreq``.

Writes ``juego/game/words/es.txt`` and ``juego/game/words/en.txt`` (relative to the
repository, not to the working directory): one word per line, UTF-8, NFC, lowercase,
alphabetic only (the language's own alphabet), 3-10 code points, no duplicates, most
frequent first.  The generated files are committed as package data; ``wordfreq`` is only
needed to regenerate them::

    python tools/make_wordlists.py            # default: 3500 words per language
    python tools/make_wordlists.py --count 3000
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path

WORDS_DIR = Path(__file__).resolve().parent.parent / "juego" / "game" / "words"

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


def acceptable(word: str, lang: str) -> bool:
    return (
        MIN_LEN <= len(word) <= MAX_LEN
        and word.isalpha()
        and word == word.lower()
        and set(word) <= ALPHABETS[lang]
        and word not in BLOCKLIST[lang]
    )


def build(lang: str, count: int) -> list[str]:
    from wordfreq import top_n_list  # only needed to regenerate the lists

    seen: set[str] = set()
    words: list[str] = []
    for raw in top_n_list(lang, SCAN):
        word = unicodedata.normalize("NFC", raw)
        if word in seen or not acceptable(word, lang):
            continue
        seen.add(word)
        words.append(word)
        if len(words) == count:
            break
    if len(words) < count:
        raise SystemExit(f"{lang}: only {len(words)} acceptable words, wanted {count}")
    return words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="words per language")
    parser.add_argument("--out", type=Path, default=WORDS_DIR, help="output directory")
    args = parser.parse_args(argv)
    if not 3000 <= args.count <= 4000:
        parser.error("--count must be between 3000 and 4000")
    args.out.mkdir(parents=True, exist_ok=True)
    for lang in sorted(ALPHABETS):
        words = build(lang, args.count)
        path = args.out / f"{lang}.txt"
        path.write_text("".join(f"{w}\n" for w in words), encoding="utf-8", newline="\n")
        print(f"{path}: {len(words)} words", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
