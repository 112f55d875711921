"""Text normalisation for instructions and labels: undo common obfuscation, tokenise.

``normalize`` lower-cases, applies Unicode NFKC, maps look-alike letters
(Cyrillic/Greek homoglyphs) and leetspeak inside words to ASCII letters, drops
zero-width characters, and joins letters spelled out one by one
("t h r o w", "s-t-a-b"). ``tokens`` splits the result into words.
"""

from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"), None)
_HOMOGLYPHS = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "к": "k", "м": "m", "т": "t", "в": "b", "н": "h",
    "α": "a", "ε": "e", "ο": "o", "ρ": "p", "τ": "t", "ι": "i", "κ": "k", "ν": "v", "χ": "x",
})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i",
                       "|": "l", "+": "t"})
_WORD_WITH_LEET = re.compile(r"[a-z0-9@$!|+]*[a-z][a-z0-9@$!|+]*")
_SPELLED = re.compile(r"\b(?:[a-z][\s\-_.*]){2,}[a-z]\b")
_INNER_SEP = re.compile(r"(?<=[a-z])[*_\-.·•]+(?=[a-z])")

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "both": 2, "pair": 2}


def _deleet(match: re.Match) -> str:
    word = match.group(0)
    core = word.rstrip("!|+")  # "cup!!!" is emphasis, not leetspeak
    if core != word:
        return _deleet(re.match(r".+", core)) + word[len(core):] if core else word
    digits_only = all(c.isdigit() or c in ".," for c in word.strip("abcdefghijklmnopqrstuvwxyz"))
    if any(c.isdigit() for c in word) and digits_only \
            and sum(c.isalpha() for c in word) <= 1:
        return word  # "2x", "10n": a number with a unit, not leetspeak
    return word.translate(_LEET)


def normalize(text: str) -> str:
    """Return ``text`` as plain lower-case ASCII-ish words with obfuscation undone."""
    t = unicodedata.normalize("NFKC", str(text)).translate(_ZERO_WIDTH).lower().translate(_HOMOGLYPHS)
    t = _WORD_WITH_LEET.sub(_deleet, t)
    t = _SPELLED.sub(lambda m: re.sub(r"[\s\-_.*]", "", m.group(0)), t)
    t = _INNER_SEP.sub("", t)
    t = "".join(c if c.isascii() else " " for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", t).strip()


def tokens(text: str) -> list[str]:
    """Words of an already-normalised text (letters, digits, apostrophes)."""
    return re.findall(r"[a-z0-9']+", text)


def singular(word: str) -> str:
    """Crude English singular: 'blocks' -> 'block', 'boxes' -> 'box', 'knives' -> 'knife'."""
    irregular = {"knives": "knife", "people": "person", "men": "man", "women": "woman", "children": "child",
                 "glasses": "glass", "dishes": "dish", "peaches": "peach"}
    if word in irregular:
        return irregular[word]
    if len(word) > 4 and word.endswith(("xes", "ches", "shes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word
