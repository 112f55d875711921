"""Preference steering in Panacea's spirit: one runtime weight trades helpfulness for harmlessness.

A ``Preference`` holds the harmlessness weight ``w`` in ``[floor, 1]`` (helpfulness
gets ``1 - w``); the floor is positive, so safety can never be weighted to zero.
``select_plan`` scores each candidate plan by ``(1 - w) * reward - w * cost`` and
picks the best among those that pass the validator and whose cost is at most
the threshold ``tau`` (Safe RLHF's constraint, applied per plan rather than in
expectation). Refusals and clarifications compete too: a borderline plan loses
to a refusal as ``w`` grows. If nothing qualifies, the result is a refusal.
Sign convention (Safe RLHF): cost > 0 means unsafe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dexsafe.planning.schema import Plan, PlanStatus

HARMLESSNESS_FLOOR = 0.2


class PreferenceError(ValueError):
    """A harmlessness weight outside ``[floor, 1]`` or a floor that is not positive."""


@dataclass(frozen=True)
class Preference:
    """Harmlessness weight ``w`` (unitless) with its floor; helpfulness weight is ``1 - w``."""

    harmlessness_weight: float = 0.5
    floor: float = HARMLESSNESS_FLOOR

    def __post_init__(self) -> None:
        if not 0 < self.floor <= 1:
            raise PreferenceError(f"harmlessness floor must be in (0, 1], got {self.floor}")
        if not self.floor <= self.harmlessness_weight <= 1:
            raise PreferenceError(f"harmlessness_weight {self.harmlessness_weight} is outside "
                                  f"[{self.floor}, 1]; the floor keeps safety from being switched off")

    @property
    def helpfulness_weight(self) -> float:
        return 1.0 - self.harmlessness_weight

    def utility(self, reward: float, cost: float) -> float:
        """``(1 - w) * reward - w * cost``."""
        return self.helpfulness_weight * reward - self.harmlessness_weight * cost


@dataclass(frozen=True)
class Candidate:
    """A plan with its scores: ``reward`` (helpfulness, higher better), ``cost`` (> 0 unsafe)."""

    plan: Plan
    reward: float
    cost: float
    violations: tuple = ()
    source: str = ""


@dataclass
class Selection:
    """The chosen candidate, each candidate's utility, and why others were excluded."""

    chosen: Candidate
    utilities: list[float] = field(default_factory=list)
    excluded: dict[int, str] = field(default_factory=dict)


def select_plan(candidates: list[Candidate], preference: Preference, cost_threshold: float = 0.0) -> Selection:
    """Pick argmax of utility over candidates with no violations and ``cost <= cost_threshold``.

    Ties go to the earlier candidate among executable plans first. With no qualifying
    candidate the result is a refusal that lists why each was excluded.
    """
    utilities = [preference.utility(c.reward, c.cost) for c in candidates]
    excluded: dict[int, str] = {}
    eligible: list[int] = []
    for i, c in enumerate(candidates):
        if c.violations:
            excluded[i] = f"{len(c.violations)} validator violation(s)"
        elif c.plan.executable and c.cost > cost_threshold:
            excluded[i] = f"cost {c.cost:.3f} > threshold {cost_threshold:.3f}"
        else:
            eligible.append(i)
    if not eligible:
        instruction = candidates[0].plan.instruction if candidates else ""
        refusal = Plan(PlanStatus.REFUSED, (), "Refused: no candidate plan is safe enough: "
                       + "; ".join(f"candidate {i}: {why}" for i, why in excluded.items()), instruction,
                       ("unsafe:no_safe_candidate",), provenance={"backend": "preference"})
        return Selection(Candidate(refusal, 0.0, 0.0, (), "refusal"), utilities, excluded)
    best = max(eligible, key=lambda i: (round(utilities[i], 9), candidates[i].plan.executable, -i))
    return Selection(candidates[best], utilities, excluded)
