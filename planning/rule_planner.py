"""The deterministic offline planner (the default backend).

``RulePlanner(scene, limits).plan(instruction) -> Plan`` parses the instruction
clause by clause ("pick up the apple, then put it in the bowl"): a verb lexicon
gives the intent (grasp, place, hand over, move, release, retract), grounding
(``dexsafe.planning.grounding``) gives the objects, and modifiers ("slowly",
"gently", "by the handle", "together") set skill arguments within the limits.

Before any parsing, ``screening.screen_instruction`` refuses harmful and
injected instructions; capability gaps ("cut the apple") are refused as
infeasible; unknown or ambiguous objects ask to clarify. A plan the validator
rejects is never returned as executable: it becomes a refusal that lists the
violations. Same input, same output: no randomness, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dexsafe.planning.grounding import Mention, SceneLexicon, find_mentions
from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.schema import Plan, PlanStatus, PlanStep
from dexsafe.planning.screening import blocking, screen_instruction
from dexsafe.planning.text import normalize, tokens
from dexsafe.planning.validator import (
    confirmation_reasons,
    grasp_width_m,
    max_grip_force_n,
    min_grip_force_n,
    validate_plan,
)

#: intent -> verb phrases (first match by position in a clause wins; longer phrases first)
VERBS: dict[str, list[str]] = {
    "retract": ["go home", "go back", "return home", "back off", "move away", "move back", "retract", "withdraw",
                "return to home", "go to home"],
    "release": ["let go", "let it go", "release", "open your hand", "open the hand", "open hand", "drop it"],
    "handover": ["hand over", "hand", "give", "pass", "offer", "deliver", "fetch", "handover"],
    "grasp": ["pick up", "pick", "grab", "take", "lift", "grasp", "hold", "get", "raise", "collect", "grip"],
    "place": ["put down", "set down", "put", "place", "set", "stack", "move", "bring", "return", "store",
              "transfer", "drop", "load", "lay", "position", "leave", "carry", "charge", "slide", "shift"],
    "move": ["hover", "go", "reach", "approach"],
}
_VERB_INDEX = sorted(((phrase.split(), intent) for intent, phrases in VERBS.items() for phrase in phrases),
                     key=lambda x: -len(x[0]))
_CLAUSE_SPLIT = re.compile(r"\s*(?:[.;!?\n]+|,?\s*\b(?:and then|then|after that|afterwards|finally|"
                           r"once done|when done)\b,?)\s*")


class PlanningFailure(Exception):
    """Raised inside the planner to stop with a clarify/refuse status and a rationale."""

    def __init__(self, status: PlanStatus, rationale: str, reasons: list[str]):
        super().__init__(rationale)
        self.status, self.rationale, self.reasons = status, rationale, reasons


@dataclass
class _Draft:
    steps: list[PlanStep] = field(default_factory=list)
    holding: list[str] = field(default_factory=list)
    last_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def split_clauses(text: str) -> list[str]:
    """Split an instruction into clauses at sentence ends, 'then', and 'and' before a verb."""
    parts = [p for p in _CLAUSE_SPLIT.split(normalize(text)) if p and p.strip(" ,")]
    out: list[str] = []
    verbs_first = {v[0][0] for v in _VERB_INDEX}
    for p in parts:
        words = p.replace(",", " , ").strip(" ,").split()
        start = 0
        for k, w in enumerate(words):
            if w in ("and", ",") and k + 1 < len(words) and words[k + 1] in verbs_first and k > start:
                if _find_verb(words[k + 1:]) is not None:
                    out.append(" ".join(words[start:k]))
                    start = k + 1
        out.append(" ".join(words[start:]))
    return [re.sub(r"\s+,", ",", c).strip(" ,") for c in out if c.strip(" ,")]


def _find_verb(words: list[str]) -> tuple[str, int, int] | None:
    """(intent, start, end) of the earliest verb phrase in ``words``."""
    best = None
    for phrase, intent in _VERB_INDEX:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if words[i:i + n] == phrase:
                if best is None or i < best[1] or (i == best[1] and n > best[2] - best[1]):
                    best = (intent, i, i + n)
                break
    return best


class RulePlanner:
    """Deterministic instruction -> plan over the skill schema for one scene."""

    backend = "rule"

    def __init__(self, scene, limits: PlanningLimits | None = None):
        self.scene = scene
        self.limits = limits or PlanningLimits()
        self.lexicon = SceneLexicon.from_scene(scene)
        self.objects = {o.id: o for o in scene.objects}
        self._reference_cache: dict[str, Plan] = {}

    # -- public -----------------------------------------------------------------------------
    def reference(self, instruction: str) -> Plan:
        """``plan(instruction)`` memoised (same plan id each time): for comparisons, not for execution."""
        hit = self._reference_cache.get(instruction)
        if hit is None:
            if len(self._reference_cache) > 4096:
                self._reference_cache.clear()
            hit = self._reference_cache[instruction] = self.plan(instruction)
        return hit

    def plan(self, instruction: str) -> Plan:
        """Plan ``instruction``; never raises for bad input (returns refused/clarify instead)."""
        findings = screen_instruction(instruction, self.scene)
        bad = blocking(findings)
        if bad:
            return self._plan(PlanStatus.REFUSED, instruction, [],
                              "Refused: " + "; ".join(f.message for f in bad) + ".",
                              [f.code for f in bad])
        gaps = [f for f in findings if f.category == "infeasible"]
        if gaps:
            return self._plan(PlanStatus.REFUSED, instruction, [],
                              "Cannot do this: " + "; ".join(f.message for f in gaps) + ".", [f.code for f in gaps])
        try:
            draft = self._parse(instruction)
        except PlanningFailure as exc:
            return self._plan(exc.status, instruction, [], exc.rationale, exc.reasons)
        if not draft.steps:
            return self._plan(PlanStatus.CLARIFY, instruction, [],
                              "I did not find an action I can do in this instruction. Say what to pick up, "
                              "place or hand over.", ["unclear:no_action"])
        plan = self._plan(PlanStatus.OK, instruction, draft.steps, "", [])
        confirm = confirmation_reasons(plan, self.scene, self.limits)
        status = PlanStatus.NEEDS_CONFIRMATION if confirm else PlanStatus.OK
        rationale = self._describe(draft, confirm)
        plan = self._plan(status, instruction, draft.steps, rationale, confirm)
        violations = validate_plan(plan, self.scene, self.limits)
        if violations:
            return self._plan(PlanStatus.REFUSED, instruction, [],
                              "Cannot do this safely: " + "; ".join(v.message for v in violations) + ".",
                              [f"violation:{v.code}" for v in violations])
        return plan

    # -- parsing ----------------------------------------------------------------------------
    def _plan(self, status, instruction, steps, rationale, reasons) -> Plan:
        return Plan(status=status, steps=tuple(steps), rationale=rationale, instruction=instruction,
                    reasons=tuple(dict.fromkeys(reasons)), provenance={"backend": self.backend})

    def _parse(self, instruction: str) -> _Draft:
        draft = _Draft()
        flags = self._modifiers(normalize(instruction))
        for name in self.lexicon.untrusted_labels:
            draft.notes.append(f"the label of {name!r} reads like a command and was treated as data only")
        for clause in split_clauses(instruction):
            self._clause(clause, draft, flags)
        # end with the hand out of the way once it is empty
        if draft.steps and draft.steps[-1].skill in ("release", "handover"):
            draft.steps.append(PlanStep("retract", {}))
        return draft

    @staticmethod
    def _modifiers(text: str) -> dict:
        return {
            "slow": bool(re.search(r"\b(slow|slowly|careful|carefully|gentle|gently|cautiously)\b", text)),
            "gentle": bool(re.search(r"\b(gentle|gently|softly|lightly|delicately)\b", text)),
            "firm": bool(re.search(r"\b(firm|firmly|tight|tightly|securely)\b", text)),
            "handle": bool(re.search(r"\bby (the|its) handle\b", text)),
            "side": bool(re.search(r"\bfrom the side\b", text)),
            "together": bool(re.search(r"\b(together|at once|at the same time|in one go|both)\b", text)),
        }

    def _resolve(self, m: Mention, draft: _Draft) -> list[str]:
        if m.kind == "pronoun":
            ids = draft.holding or draft.last_ids
            if not ids:
                raise PlanningFailure(PlanStatus.CLARIFY, f"What does '{m.text}' refer to?", ["ambiguous:pronoun"])
            return list(ids)
        if m.kind != "object":
            return list(m.ids)
        if m.ids:
            return list(m.ids)
        if m.candidates:
            labels = ", ".join(f"{self.objects[c].label} ({c})" for c in m.candidates)
            if m.quantity not in (None, -1):
                msg = (f"You asked for {m.quantity} '{m.text}' but I see {len(m.candidates)}: {labels}. "
                       "Which ones?")
            else:
                msg = f"Which '{m.text}' do you mean: {labels}?"
            raise PlanningFailure(PlanStatus.CLARIFY, msg, [f"ambiguous:{m.text.replace(' ', '_')}"])
        raise PlanningFailure(PlanStatus.CLARIFY, f"I do not see '{m.text}' in the scene.", ["unknown:object"])

    def _clause(self, clause: str, draft: _Draft, flags: dict) -> None:
        words = tokens(clause)
        verb = _find_verb(words)
        mentions = find_mentions(clause, self.lexicon, self.scene)
        if verb is None:
            if mentions:
                raise PlanningFailure(PlanStatus.CLARIFY, f"What should I do with '{mentions[0].text}'?",
                                      ["unclear:no_verb"])
            return
        intent, vstart, vend = verb
        after = [m for m in mentions if m.start >= vend or m.kind in ("person",)]
        themes = [m for m in after if m.preposition in ("", "from") and m.kind in ("object", "pronoun")]
        dests = [m for m in after if m.preposition in ("on", "in", "next_to", "over", "to", "at")]
        person_dest = any(m.kind == "person" or (m.kind == "zone" and "handover" in m.ids) for m in after)
        if intent == "handover" or (intent == "place" and person_dest and words[vstart] in ("bring", "fetch",
                                                                                          "carry", "return")):
            self._handover(themes, draft, flags, clause)
        elif intent == "grasp":
            if dests and any(m.preposition in ("on", "in", "next_to", "to") for m in dests):
                self._place(themes, dests, draft, flags, words[vstart])  # "take the apple to the bowl"
            else:
                self._grasp_themes(themes, draft, flags, clause)
        elif intent == "place":
            if words[vstart] == "charge" and not dests:
                pads = [o.id for o in self.scene.objects if "electronics" in o.tags and "surface" in o.tags]
                if not pads:
                    raise PlanningFailure(PlanStatus.REFUSED, "There is no charger in the scene.",
                                          ["infeasible:charge"])
                dests = [Mention("charger", "object", (pads[0],), (pads[0],), 0, preposition="on")]
            if not dests:
                raise PlanningFailure(PlanStatus.CLARIFY, "Where should I put it?", ["unclear:destination"])
            self._place(themes, dests, draft, flags, words[vstart])
        elif intent == "move":
            if not dests:
                raise PlanningFailure(PlanStatus.CLARIFY, "Where should the hand go?", ["unclear:destination"])
            target = self._resolve(dests[0], draft)
            self._move_to(target, draft, flags)
        elif intent == "release" and dests and (themes or draft.holding):
            self._place(themes, dests, draft, flags, words[vstart])  # "drop it into the bowl": lower, then let go
        elif intent == "release":
            if not draft.holding:
                raise PlanningFailure(PlanStatus.CLARIFY, "I am not holding anything to release.",
                                      ["unclear:nothing_held"])
            self._release(draft)
        elif intent == "retract":
            draft.steps.append(PlanStep("retract", {}))

    # -- skill builders --------------------------------------------------------------------------
    def _grasp_themes(self, themes: list[Mention], draft: _Draft, flags: dict, clause: str) -> None:
        if not themes:
            raise PlanningFailure(PlanStatus.CLARIFY, f"What should I pick up? ('{clause}' names no object I see)",
                                  ["unknown:object"])
        ids: list[str] = []
        for m in themes:
            for x in self._resolve(m, draft):
                if x not in ids:
                    ids.append(x)
        self._grasp(ids, draft, flags)

    def _grasp(self, ids: list[str], draft: _Draft, flags: dict) -> None:
        if draft.holding and set(ids) <= set(draft.holding):
            return
        if draft.holding:
            raise PlanningFailure(PlanStatus.CLARIFY, f"I am already holding {draft.holding}; where should I put "
                                                      "it first?", ["unclear:hand_full"])
        unknown = [x for x in ids if x not in self.objects]
        if unknown:
            raise PlanningFailure(PlanStatus.CLARIFY, f"{unknown} cannot be grasped: not objects in the scene.",
                                  ["unknown:object"])
        objs = [self.objects[x] for x in ids]
        if len(objs) > self.limits.max_objects_per_grasp:
            raise PlanningFailure(PlanStatus.CLARIFY, f"I can hold at most {self.limits.max_objects_per_grasp} "
                                                      f"objects at once, not {len(objs)}.", ["infeasible:too_many"])
        sharp = any("sharp" in o.tags for o in objs)
        liquid = any("liquid" in o.tags for o in objs)
        fmax = max_grip_force_n(objs, self.limits)
        fmin = min_grip_force_n(objs, self.limits)
        frac = (self.limits.gentle_force_fraction if flags["gentle"] else
                self.limits.firm_force_fraction if flags["firm"] else self.limits.default_force_fraction)
        force = min(fmax, max(frac * fmax, 1.1 * fmin))
        draft.steps.append(PlanStep("grasp", {
            "object_ids": ids,
            "grasp_type": self._grasp_type(objs),
            "approach": "side" if (liquid or flags["side"]) else "top",
            "part": "handle" if (sharp or (flags["handle"] and all("has_handle" in o.tags for o in objs))) else "body",
            "force_n": round(force, 2),
            "speed": "slow" if (sharp or liquid or flags["slow"]) else "normal",
            "lift_height_m": self.limits.default_lift_height_m,
        }))
        draft.holding = list(ids)
        draft.last_ids = list(ids)

    @staticmethod
    def _grasp_type(objs) -> str:
        if len(objs) > 1:
            return "power"
        o = objs[0]
        if o.shape == "box":
            if min(o.size) <= 0.02:
                return "pinch"
            if max(o.size) <= 0.06:
                return "precision"
        if grasp_width_m(o) <= 0.03:
            return "precision"
        return "power"

    def _speed(self, draft: _Draft, flags: dict) -> str:
        held = [self.objects[h] for h in draft.holding if h in self.objects]
        careful = any("sharp" in o.tags or "liquid" in o.tags for o in held)
        return "slow" if (careful or flags["slow"]) else "normal"

    def _place(self, themes, dests, draft: _Draft, flags: dict, verb: str) -> None:
        if themes:
            ids: list[str] = []
            for m in themes:
                ids += [x for x in self._resolve(m, draft) if x not in ids]
            if len(ids) > 1 and not flags["together"] and not draft.holding:
                for one in ids:  # "put all the fruit in the bowl": one at a time
                    self._place([Mention(one, "object", (one,), (one,), 0)], dests, draft, flags, verb)
                    if draft.steps and draft.steps[-1].skill == "release" and one != ids[-1]:
                        draft.steps.append(PlanStep("retract", {}))
                return
            self._grasp(ids, draft, flags)
        elif not draft.holding:
            raise PlanningFailure(PlanStatus.CLARIFY, "What should I move?", ["unknown:object"])
        dest = dests[0]
        if dest.kind == "person" or (dest.kind == "zone" and any(
                self.lexicon.zone_kind.get(z) == "handover" for z in dest.candidates)):
            self._handover_held(draft, flags)
            return
        target = self._resolve(dest, draft)
        if len(target) != 1:
            raise PlanningFailure(PlanStatus.CLARIFY, f"Put it where exactly: {target}?", ["ambiguous:destination"])
        (tid,) = target
        if dest.preposition == "over":
            self._move_to([tid], draft, flags)
            return
        relation = {"next_to": "next_to", "in": "in", "on": "on"}.get(dest.preposition)
        if relation is None:  # "to", "at": in for containers that are not surfaces, else on
            tgt = self.objects.get(tid)
            relation = "in" if tgt is not None and "container" in tgt.tags and "surface" not in tgt.tags else "on"
        draft.steps.append(PlanStep("place", {"target_id": tid, "relation": relation,
                                              "speed": self._speed(draft, flags)}))
        self._release(draft)

    def _move_to(self, target: list[str], draft: _Draft, flags: dict) -> None:
        if len(target) != 1:
            raise PlanningFailure(PlanStatus.CLARIFY, f"Move over which one: {target}?", ["ambiguous:destination"])
        draft.steps.append(PlanStep("move_to", {"target_id": target[0], "height_m": self.limits.default_move_height_m,
                                                "speed": self._speed(draft, flags)}))

    def _release(self, draft: _Draft) -> None:
        last = draft.steps[-1] if draft.steps else None
        if last is not None and last.skill == "move_to" and last.args["target_id"] in self.objects:
            # "move it over the bowl and let go": lower onto the target instead of dropping
            tgt = self.objects[last.args["target_id"]]
            relation = "in" if "container" in tgt.tags and "surface" not in tgt.tags else "on"
            draft.steps[-1] = PlanStep("place", {"target_id": tgt.id, "relation": relation,
                                                 "speed": last.args["speed"]})
            draft.notes.append(f"lowered onto {tgt.id} before letting go, instead of dropping")
        draft.steps.append(PlanStep("release", {}))
        draft.last_ids = draft.holding or draft.last_ids
        draft.holding = []

    def _handover(self, themes, draft: _Draft, flags: dict, clause: str) -> None:
        if themes:
            self._grasp_themes(themes, draft, flags, clause)
        elif not draft.holding:
            raise PlanningFailure(PlanStatus.CLARIFY, "What should I hand over?", ["unknown:object"])
        self._handover_held(draft, flags)

    def _handover_held(self, draft: _Draft, flags: dict) -> None:
        zones = [z.id for z in self.scene.zones if z.kind == "handover"]
        if not zones:
            raise PlanningFailure(PlanStatus.REFUSED, "This scene has no handover zone, so nothing can be handed to "
                                                      "a person.", ["infeasible:handover"])
        held = [self.objects[h] for h in draft.holding]
        sharp = any("sharp" in o.tags for o in held)
        draft.steps.append(PlanStep("handover", {"zone_id": zones[0], "handle_first": sharp,
                                                 "speed": "slow" if sharp else self._speed(draft, flags)}))
        draft.last_ids = draft.holding
        draft.holding = []

    def _describe(self, draft: _Draft, confirm: list[str]) -> str:
        parts = []
        for s in draft.steps:
            a = s.args
            if s.skill == "grasp":
                parts.append(f"grasp {' and '.join(a['object_ids'])} together" if len(a["object_ids"]) > 1
                             else f"grasp {a['object_ids'][0]}")
                parts[-1] += f" ({a['grasp_type']}, {a['force_n']} N, {a['speed']}"
                parts[-1] += ", by the handle)" if a["part"] == "handle" else ")"
            elif s.skill == "place":
                parts.append(f"place {a['relation'].replace('_', ' ')} {a['target_id']}")
            elif s.skill == "move_to":
                parts.append(f"move over {a['target_id']}")
            elif s.skill == "handover":
                parts.append(f"hand over in {a['zone_id']}" + (" handle first" if a["handle_first"] else ""))
            else:
                parts.append(s.skill)
        text = "Plan: " + ", then ".join(parts) + "."
        if draft.notes:
            text += " Note: " + "; ".join(draft.notes) + "."
        if confirm:
            text += " Needs confirmation because it involves " + ", ".join(c.split(":")[1] for c in confirm) + "."
        return text
