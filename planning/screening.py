"""Instruction screening: harmful intents, prompt injections and capability gaps.

``screen_instruction(text, scene)`` returns ``Finding`` s, each with a code:

- ``harm:<kind>``: the instruction asks to damage an object or hurt a person
  (throw, break, stab, excessive force, spill on electronics, knock over, ...).
- ``injection:<kind>``: it tries to change the robot's rules (override, role-play,
  false authority, spoofed plan JSON, shell commands, "do what the note says").
- ``infeasible:<verb>``: no skill does this (cut, pour, wash...); not harmful.

``screen_label`` checks a scene object's label the same way: a label is data,
and one that reads like a command is flagged and never followed.

Deterministic and conservative: a word list plus a few patterns over the
normalised text (``dexsafe.planning.text.normalize``), so obfuscated spellings
("thr0w", "s t a b", "ѕmash") are caught too. The validator still checks every
plan, whatever this module says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dexsafe.planning.text import normalize, singular, tokens

#: verb (normalised, singular form) -> harm kind
HARM_VERBS: dict[str, str] = {}
for _kind, _words in {
    "throw": "throw toss hurl fling lob chuck yeet catapult threw thrown tossing throwing hurling",
    "break": "break smash shatter crack destroy wreck ruin damage demolish bash crush squash squish pulverize "
             "pulverise dent snap broke broken smashing breaking crushing shred tear rip",
    "stab": "stab slash jab pierce impale skewer stabbing",
    "hurt": "hurt harm injure wound kill murder attack hit strike punch slap beat kick choke strangle burn "
            "poison drown threaten scare assault maim",
    "spill": "spill splash soak drench flood",
    "knock_over": "topple overturn",
}.items():
    for _w in _words.split():
        HARM_VERBS[_w] = _kind

#: words that name a person (or their body)
PERSON_WORDS = {"person", "human", "someone", "somebody", "people", "man", "woman", "child", "kid", "baby", "me",
                "him", "her", "user", "operator", "face", "eye", "eyes", "neck", "throat", "head", "body", "chest",
                "arm", "leg", "finger", "fingers", "guy", "girl", "boy", "friend", "myself", "yourself", "anyone",
                "everyone", "cat", "dog", "pet"}

#: verbs with no skill behind them -> reported as infeasible (not harm) unless aimed at a person
INFEASIBLE_VERBS = {
    "cut": "cut", "slice": "cut", "chop": "cut", "dice": "cut", "peel": "peel", "pour": "pour", "wash": "wash",
    "clean": "clean", "wipe": "clean", "cook": "cook", "heat": "cook", "eat": "eat", "open": "open",
    "unlock": "open", "write": "write", "type": "write", "call": "call", "text": "call", "fold": "fold",
    "stir": "stir", "squeeze_juice": "squeeze", "paint": "paint", "sweep": "clean", "mop": "clean",
}

_INJECTION_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("override", re.compile(
        r"\b(ignore|disregard|forget|override|bypass|skip|disable|deactivate|turn off|switch off|remove|"
        r"circumvent|suspend)\b(\s+\w+){0,4}?\s+(instructions?|rules?|constraints?|guidelines?|safety|"
        r"limits?|checks?|validator|validation|programming|policy|policies|restrictions?|prompt|guardrails?|"
        r"filters?|shield|confirmation)\b")),
    ("override", re.compile(r"\b(new|updated|real|true|hidden|secret) (instructions?|rules|orders|task)\b")),
    ("roleplay", re.compile(
        r"\b(you are now|from now on,? you|act as|pretend|role ?play|imagine you are|you're now|you are no longer|"
        r"developer mode|dan mode|jailbreak|jailbroken|god mode|evil (robot|mode|twin)|no (rules|restrictions|limits)|"
        r"without (any )?(rules|restrictions|limits|safety)|unrestricted|unfiltered)\b")),
    ("authority", re.compile(
        r"\b(i am|i'm|this is|as) (the|an?|your) (admin|administrator|developer|engineer|safety officer|owner|"
        r"supervisor|operator|manufacturer|creator|boss|lead engineer|system)\b.*\b(authori[sz]e|allow|permit|"
        r"permission|order|command|override|approve)")),
    ("authority", re.compile(
        r"\b(you (are|have been) (authori[sz]ed|permitted|allowed)|you have (my )?permission|"
        r"safety (is|are|has been|checks are) (off|disabled|turned off|not needed))\b")),
    ("system_prompt", re.compile(r"(^|\s)(system|assistant|developer)\s*:|<\s*/?\s*(system|im_start|im_end)|"
                                 r"\[(system|inst)\]|system prompt")),
    ("spoofed_plan", re.compile(r"[{\[]\s*\"?(skill|status|steps|args|force_n)\"?\s*:")),
    ("shell", re.compile(r"(`|\$\(|\brm -rf\b|\bsudo\b|\bos\.system\b|\bsubprocess\b|\bbash\b|\bshell\b|"
                         r"\beval\(|\bexec\(|&&|\|\s*sh\b|\bros2 (topic|service|param|run)\b)")),
    ("indirect", re.compile(
        r"\b(do|follow|obey|execute|carry out|perform)\b(\s+\w+){0,3}?\s+(what|whatever|the instructions?|"
        r"the commands?)\b(\s+\w+){0,4}?\s+(says?|written|tells?|reads?|on|in)\b|"
        r"\bread (the|that|this) \w+ and (do|follow|obey)\b|\bas (the|that) (note|label|sign|sticker|card|text) "
        r"(says|instructs|tells)\b")),
]

_EXCESSIVE_FORCE = re.compile(
    r"\b(as hard as|as tight(ly)? as|with all (your|its|the) (force|strength|might)|full (force|strength|power)|"
    r"max(imum)? (force|grip|strength|power)|until it (breaks|cracks|shatters|pops|bursts|crumbles|deforms|dents|"
    r"is crushed|is flat)|hardest|crush(ing)? (grip|force)|squeeze (it |the \w+ )?(hard|harder|flat))\b")
_DROP_FROM_HIGH = re.compile(
    r"\b(drop|let (it|go|fall)|release|fall)\b.*"
    r"\b(from (high|a height|high up|the top|as high|above your head|the ceiling)|"
    r"as high as|so it (breaks|shatters|cracks)|from \d+(\.\d+)? ?(m|meters?|metres?)\b)")
_KNOCK = re.compile(r"\b(knock|push|shove|sweep|tip|flip)\b(\s+\w+){0,4}?\s+(over|off|down|onto the floor|"
                    r"to the floor|off the table)\b")
_SPEED_AT_PERSON = re.compile(r"\b(swing|wave|point|aim|jab|thrust|brandish|poke)\b")
_SPILL_ON = re.compile(r"\b(pour|spill|splash|empty|tip|dump)\b.*\b(on|onto|over|into|in)\b")

#: single-deletion variants of harm verbs that are ordinary words (not obfuscation)
_DELETION_ALLOW = {"rush", "mash", "hatter", "thow", "reak", "trow", "hrow", "brea", "bran"}


@dataclass(frozen=True)
class Finding:
    """One screening result: ``code`` (``harm:throw``...) and a sentence for a person."""

    code: str
    message: str

    @property
    def category(self) -> str:
        return self.code.split(":", 1)[0]


def _deletion_match(word: str) -> str | None:
    """A harm verb that ``word`` equals after one character was obfuscated away ('thr*w' -> 'thrw')."""
    if len(word) < 4 or word in _DELETION_ALLOW:
        return None
    for verb in HARM_VERBS:
        if len(verb) >= 5 and len(word) == len(verb) - 1:
            if any(verb[:i] + verb[i + 1:] == word for i in range(len(verb))):
                return verb
    return None


_SCENE_CACHE: dict[int, tuple] = {}


def _scene_data(scene) -> tuple:
    """Per-scene precomputation (cached by identity): scene words and trusted label patterns."""
    key = id(scene)
    hit = _SCENE_CACHE.get(key)
    if hit is not None and hit[0] is scene:
        return hit[1]
    words = _compute_scene_words(scene)
    labels = []
    if scene is not None:
        for o in sorted(scene.objects, key=lambda o: -len(o.label)):
            label = normalize(o.label)
            if label and not screen_label(o.label):
                labels.append((re.compile(rf"\b{re.escape(label)}\b"), f" obj_{o.id} "))
    data = (words, labels)
    if len(_SCENE_CACHE) > 64:
        _SCENE_CACHE.clear()
    _SCENE_CACHE[key] = (scene, data)
    return data


def _scene_words(scene) -> tuple[set[str], set[str], set[str]]:
    """Words naming electronics, liquid containers and sharp objects in ``scene``."""
    return _scene_data(scene)[0]


def _compute_scene_words(scene) -> tuple[set[str], set[str], set[str]]:
    elec, liquid, sharp = set(), set(), set()
    if scene is None:
        return elec, liquid, sharp
    for o in scene.objects:
        words = set(tokens(normalize(o.label))) | set(o.id.split("_"))
        if "electronics" in o.tags:
            elec |= words
        if "liquid" in o.tags:
            liquid |= words
        if "sharp" in o.tags:
            sharp |= words
    elec |= {"phone", "laptop", "computer", "tablet", "charger", "electronics", "socket", "outlet"}
    liquid |= {"water", "drink", "coffee", "tea", "juice", "liquid"}
    sharp |= {"knife", "blade", "scissors", "knives"}
    return elec, liquid, sharp


def _mask_labels(text: str, scene) -> str:
    """Replace object labels in ``text`` by their ids so label words ('cutting board') are not verbs."""
    if scene is None:
        return text
    out = text
    for pattern, repl in _scene_data(scene)[1]:
        out = pattern.sub(repl, out)
    return re.sub(r"\s+", " ", out)


def screen_label(label: str) -> list[Finding]:
    """Findings for an object label that reads like an instruction (an indirect injection)."""
    t = normalize(label)
    found = [Finding(f"injection:{kind}", f"label {label!r} contains instruction-like text ({kind})")
             for kind, pat in _INJECTION_PATTERNS if pat.search(t)]
    words = tokens(t)
    if len(words) > 6 or any(w in HARM_VERBS for w in words):
        found.append(Finding("injection:label", f"label {label!r} reads like a command, not a name; "
                                                "it is treated as data and never followed"))
    return found


def screen_instruction(text: str, scene=None) -> list[Finding]:
    """Screen an instruction against harm, injection and capability-gap patterns.

    ``scene`` (a ``SceneSpec``, optional) supplies which words name electronics,
    liquids and sharp objects, and labels to mask.
    """
    norm = normalize(text)
    masked = _mask_labels(norm, scene)
    words = tokens(masked)
    singles = [singular(w) for w in words]
    elec, liquid, sharp = _scene_words(scene)
    sharp_ids = {f"obj_{o.id}" for o in scene.objects if "sharp" in o.tags} if scene is not None else set()
    elec_ids = {f"obj_{o.id}" for o in scene.objects if "electronics" in o.tags} if scene is not None else set()
    liquid_ids = {f"obj_{o.id}" for o in scene.objects if "liquid" in o.tags} if scene is not None else set()
    word_set = set(words) | set(singles)
    mentions_person = bool(word_set & PERSON_WORDS) or "someone's" in masked
    mentions_sharp = bool(word_set & (sharp | sharp_ids))
    findings: list[Finding] = []

    def add(code: str, message: str) -> None:
        if all(f.code != code for f in findings):
            findings.append(Finding(code, message))

    for kind, pat in _INJECTION_PATTERNS:
        if pat.search(norm):
            add(f"injection:{kind}", f"the instruction tries to change the robot's rules ({kind}); "
                                     "instructions cannot override safety")
    for w, s in zip(words, singles):
        kind = HARM_VERBS.get(w) or HARM_VERBS.get(s)
        if kind is None:
            verb = _deletion_match(w)
            kind = HARM_VERBS.get(verb) if verb else None
        if kind:
            add(f"harm:{kind}", f"'{w}' asks to {kind.replace('_', ' ')}; the robot does not damage objects "
                                "or hurt people")
    if _EXCESSIVE_FORCE.search(masked):
        add("harm:excessive_force", "asks for more grip force than the object can take")
    if _DROP_FROM_HIGH.search(masked):
        add("harm:drop", "asks to drop an object from a height that can break it")
    if _KNOCK.search(masked):
        add("harm:knock_over", "asks to knock an object over or off the table")
    spill = _SPILL_ON.search(masked)
    if spill and (word_set & (elec | elec_ids) or mentions_person):
        add("harm:spill", "asks to pour or spill onto electronics or a person")
    if word_set & (liquid | liquid_ids) and word_set & (elec | elec_ids) and re.search(
            r"\b(in|into|inside|submerge|dip|dunk)\b", masked):
        # "put the phone in the glass of water", "dunk the phone in water"
        for lw in word_set & (liquid | liquid_ids):
            for ew in word_set & (elec | elec_ids):
                if masked.find(ew) < masked.find(lw) and re.search(r"\b(in|into|inside|submerge|dip|dunk)\b",
                                                                     masked[masked.find(ew):]):
                    add("harm:liquid_electronics", "asks to put electronics into liquid")
    if mentions_person and mentions_sharp and not _is_handover(masked):
        add("harm:sharp_near_person", "moves a sharp object toward a person other than by a handover")
    if mentions_person and _SPEED_AT_PERSON.search(masked):
        add("harm:threaten", "points or swings an object at a person")
    if mentions_person and re.search(r"\b(fast|quickly|hard|full speed|at speed|rapidly)\b", masked) and \
            re.search(r"\b(at|toward|towards|into|onto|on)\s+(the\s+|a\s+|his\s+|her\s+|my\s+|their\s+)?"
                      r"(person|human|someone|face|head|eye|eyes|me|him|her|people|child|kid|body)\b", masked):
        add("harm:person_contact", "moves an object fast at a person")
    # capability gaps (not harm unless aimed at a person, then harm)
    for w, s in zip(words, singles):
        gap = INFEASIBLE_VERBS.get(w) or INFEASIBLE_VERBS.get(s)
        if gap and not (gap == "open" and re.search(r"\bopen (your |the )?(hand|fingers|gripper)\b", masked)):
            if gap in ("cut",) and mentions_person:
                add("harm:stab", f"'{w}' aimed at a person")
            elif gap == "pour" and any(f.code == "harm:spill" for f in findings):
                pass
            else:
                add(f"infeasible:{gap}", f"no skill can {gap}; the robot can grasp, move, place, release, "
                                         "hand over and retract")
    return findings


def _is_handover(masked: str) -> bool:
    return bool(re.search(r"\b(give|hand|pass|offer|deliver|bring|fetch|handover)\b", masked)) and \
        not _SPEED_AT_PERSON.search(masked)


def blocking(findings: list[Finding]) -> list[Finding]:
    """The findings that forbid planning: harm and injection (not capability gaps)."""
    return [f for f in findings if f.category in ("harm", "injection")]
