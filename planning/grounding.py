"""Grounding: which scene objects and zones the words of an instruction refer to.

Each object gets a vocabulary from its label, id, tags and relations
(``[glass_cup, contains, water]`` makes "the water" mean the glass) and a set
of *head* nouns (the label's last noun, its synonyms, category tags such as
``fruit``). A noun phrase refers to the objects whose head it names and whose
vocabulary contains all its other words: "red cup" -> ``red_cup``, "the two
blocks" -> both objects tagged ``block``, "the cup" -> three cups (ambiguous).

Labels that read like commands (``screening.screen_label``) still ground by id
words only; their text is never interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dexsafe.planning.screening import PERSON_WORDS, screen_label
from dexsafe.planning.text import NUMBER_WORDS, normalize, singular, tokens

STOPWORDS = {"the", "a", "an", "of", "this", "that", "these", "those", "my", "your", "its", "some", "please"}
SYNONYMS: dict[str, set[str]] = {
    "cup": {"mug", "beaker"}, "glass": {"tumbler"}, "block": {"cube", "brick"}, "cylinder": {"peg", "tube", "can"},
    "knife": {"blade"}, "phone": {"smartphone", "mobile", "cellphone", "iphone", "handy"},
    "plate": {"dish", "saucer"}, "board": {"chopping"}, "cutting": {"chopping"}, "pad": {"charger", "dock"},
    "tray": {"platter"}, "bowl": set(), "apple": set(), "banana": set(), "orange": set(),
}
#: tags that are category nouns a person may use ("the fruit", "the toys")
CATEGORY_TAGS = {"fruit", "block", "cup", "toy", "utensil", "container", "food", "electronics"}
CATEGORY_ALIASES = {"toy": {"toy"}, "food": {"food"}, "utensil": {"utensil", "cutlery"},
                    "electronics": {"electronic", "electronics", "device", "gadget"},
                    "container": {"container"}, "fruit": {"fruit"}, "block": {"block"}, "cup": {"cup"}}
PRONOUNS = {"it", "them", "they", "both", "one"}
QUANTIFIERS = {"all", "every", "each", "everything"}


@dataclass(frozen=True)
class Mention:
    """A noun phrase in an instruction and what it refers to.

    ``kind``: ``object``, ``zone``, ``person`` or ``pronoun``; ``ids``: the referents
    chosen (empty when ambiguous or unknown); ``candidates``: all matching ids.
    ``quantity``: a number said before it (2 for "two"/"both"), ``-1`` for "all", else ``None``.
    ``preposition``: the preposition just before it ("on", "in", "next to", ...), or "".
    """

    text: str
    kind: str
    ids: tuple[str, ...]
    candidates: tuple[str, ...]
    start: int
    quantity: int | None = None
    preposition: str = ""
    plural: bool = False

    @property
    def ambiguous(self) -> bool:
        return not self.ids and len(self.candidates) > 1

    @property
    def unknown(self) -> bool:
        return not self.ids and not self.candidates


@dataclass
class SceneLexicon:
    """Per-object vocabularies for one scene (build with ``SceneLexicon.from_scene``)."""

    vocab: dict[str, set[str]] = field(default_factory=dict)
    heads: dict[str, set[str]] = field(default_factory=dict)
    category: dict[str, set[str]] = field(default_factory=dict)
    zone_words: dict[str, set[str]] = field(default_factory=dict)
    zone_kind: dict[str, str] = field(default_factory=dict)
    untrusted_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_scene(cls, scene) -> SceneLexicon:
        lex = cls()
        for o in scene.objects:
            id_words = set(o.id.split("_"))
            if screen_label(o.label):
                lex.untrusted_labels[o.id] = o.label
                label_words: list[str] = []
            else:
                label_words = [w for w in tokens(normalize(o.label)) if w not in STOPWORDS]
            words = set(label_words) | id_words
            full = normalize(o.label).split()
            head_label = full[: full.index("of")] if "of" in full else full
            heads = {head_label[-1]} if head_label else set()
            heads.add(o.id.split("_")[-1])
            for h in list(heads):
                heads |= SYNONYMS.get(h, set())
            for w in list(words):
                words |= SYNONYMS.get(w, set())
            cats = {t for t in o.tags if t in CATEGORY_TAGS}
            for c in cats:
                heads |= CATEGORY_ALIASES.get(c, {c})
                words |= CATEGORY_ALIASES.get(c, {c})
            for subj, rel, obj in scene.relations:
                if subj == o.id and rel == "contains":
                    heads.add(obj)
                    words.add(obj)
            lex.vocab[o.id] = words
            lex.heads[o.id] = heads
            lex.category[o.id] = cats
        for z in scene.zones:
            words = set(z.id.split("_")) - {"zone"}
            if z.kind == "keep_out":
                words |= PERSON_WORDS
            if z.kind == "handover":
                words |= {"handover", "hand-over"}
            lex.zone_words[z.id] = words
            lex.zone_kind[z.id] = z.kind
        return lex

    def all_words(self) -> set[str]:
        out: set[str] = set()
        for w in self.vocab.values():
            out |= w
        return out


_PREPOSITIONS = [("next to", "next_to"), ("beside", "next_to"), ("near", "next_to"), ("by", "next_to"),
                 ("onto", "on"), ("on top of", "on"), ("on", "on"), ("into", "in"), ("inside", "in"), ("in", "in"),
                 ("over", "over"), ("above", "over"), ("toward", "to"), ("towards", "to"), ("to", "to"),
                 ("at", "at"), ("from", "from"), ("with", "with"), ("out of", "from"), ("off", "from")]


def _preposition_before(words: list[str], i: int, floor: int) -> str:
    """The preposition closest before index ``i`` (not before ``floor``), normalised."""
    for j in range(i - 1, floor - 1, -1):
        for phrase, name in _PREPOSITIONS:
            p = phrase.split()
            if words[j - len(p) + 1: j + 1] == p:
                return name
    return ""


def find_mentions(text: str, lex: SceneLexicon, scene=None) -> list[Mention]:
    """Noun phrases in ``text`` (already normalised or not) grounded against ``lex``."""
    words = tokens(normalize(text))
    obj_words = lex.all_words()
    zone_all = set().union(*lex.zone_words.values()) if lex.zone_words else set()
    mentions: list[Mention] = []
    i, last_end = 0, 0
    while i < len(words):
        w, s = words[i], singular(words[i])
        if w in PRONOUNS - {"one", "both"} or (w == "both" and (i + 1 >= len(words) or
                                                                singular(words[i + 1]) not in obj_words)):
            mentions.append(Mention(w, "pronoun", (), (), i, preposition=_preposition_before(words, i, last_end),
                                    plural=w in ("them", "they", "both")))
            last_end = i + 1
            i += 1
            continue
        if s in obj_words or w in obj_words:
            j = i
            phrase: list[str] = []
            while j < len(words):
                wj = singular(words[j])
                if wj in obj_words or words[j] in obj_words:
                    phrase.append(wj if wj in obj_words else words[j])
                    j += 1
                elif words[j] == "of" and j + 1 < len(words) and singular(words[j + 1]) in obj_words:
                    j += 1
                else:
                    break
            plural = any(singular(words[k]) != words[k] for k in range(i, j))
            quantity = None
            for k in range(max(last_end, i - 3), i):
                if words[k] in NUMBER_WORDS:
                    quantity = NUMBER_WORDS[words[k]]
                elif words[k].isdigit():
                    quantity = int(words[k])
                elif words[k] in QUANTIFIERS:
                    quantity = -1
            cands = _match(phrase, lex)
            prep = _preposition_before(words, i, last_end)
            ids: tuple[str, ...] = ()
            if quantity == -1 or (plural and quantity is None):
                ids = tuple(cands) if cands else ()
            elif quantity is not None:
                ids = tuple(cands) if len(cands) == quantity else ()
            elif len(cands) == 1:
                ids = tuple(cands)
            mentions.append(Mention(" ".join(words[i:j]), "object", ids, tuple(cands), i, quantity, prep, plural))
            last_end = j
            i = j
            continue
        if s in zone_all or w in zone_all:
            zids = [z for z, ws in lex.zone_words.items() if s in ws or w in ws]
            kind = "person" if all(lex.zone_kind[z] == "keep_out" for z in zids) else "zone"
            if w == "zone" or (w == "handover" and i + 1 < len(words) and words[i + 1] == "zone"):
                j = i + 2 if w == "handover" else i + 1
            else:
                j = i + 1
            mentions.append(Mention(" ".join(words[i:j]), kind, tuple(zids) if len(zids) == 1 else (), tuple(zids),
                                    i, preposition=_preposition_before(words, i, last_end)))
            last_end = j
            i = j
            continue
        if s in PERSON_WORDS:
            mentions.append(Mention(w, "person", (), (), i, preposition=_preposition_before(words, i, last_end)))
            last_end = i + 1
        i += 1
    return mentions


def _match(phrase: list[str], lex: SceneLexicon) -> list[str]:
    """Object ids whose head is named in ``phrase`` and whose vocabulary holds every phrase word."""
    words = set(phrase)
    cands = [oid for oid, vocab in lex.vocab.items()
             if words <= vocab and words & lex.heads[oid]]
    if len(cands) > 1 and len(words) == 1:
        # a bare category noun ("blocks") prefers objects of that category over
        # objects that merely end in the word ("knife block")
        (word,) = words
        tagged = [c for c in cands if any(word in CATEGORY_ALIASES.get(t, {t}) for t in lex.category[c])]
        if tagged:
            cands = tagged
    if len(cands) > 1:
        # prefer objects whose whole label is named ("knife block" over "knife")
        exact = [c for c in cands if lex.vocab[c] and words >= (lex.vocab[c] & {w for w in phrase})
                 and len(words) > 1]
        if len(exact) == 1:
            cands = exact
    return cands
