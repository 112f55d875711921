"""Panacea-style steering: the floor holds, selection follows (1-w)*reward - w*cost under the cost threshold."""

from __future__ import annotations

import pytest

from dexsafe.planning.preferences import Candidate, Preference, PreferenceError, select_plan
from dexsafe.planning.schema import Plan, PlanStatus, PlanStep


def _plan(status=PlanStatus.OK):
    steps = (PlanStep("retract", {}),) if status in (PlanStatus.OK, PlanStatus.NEEDS_CONFIRMATION) else ()
    return Plan(status, steps, "")


def test_floor_cannot_be_lowered_to_zero():
    with pytest.raises(PreferenceError):
        Preference(0.0)
    with pytest.raises(PreferenceError):
        Preference(0.1, floor=0.0)
    with pytest.raises(PreferenceError):
        Preference(1.2)
    assert Preference(0.2).helpfulness_weight == pytest.approx(0.8)


def test_selection_trades_off_and_respects_threshold():
    helpful_risky = Candidate(_plan(), reward=1.0, cost=-0.2, source="risky")
    cautious = Candidate(_plan(), reward=0.6, cost=-1.0, source="cautious")
    refusal = Candidate(_plan(PlanStatus.REFUSED), reward=0.0, cost=-1.5, source="refuse")
    cands = [helpful_risky, cautious, refusal]
    assert select_plan(cands, Preference(0.2)).chosen.source == "risky"
    assert select_plan(cands, Preference(0.4)).chosen.source == "cautious"
    assert select_plan(cands, Preference(1.0)).chosen.source == "refuse"
    unsafe = Candidate(_plan(), reward=5.0, cost=0.3, source="unsafe")
    sel = select_plan([unsafe, cautious], Preference(0.2), cost_threshold=0.0)
    assert sel.chosen.source == "cautious" and "threshold" in sel.excluded[0]


def test_violating_candidates_are_excluded_and_nothing_left_means_refusal():
    bad = Candidate(_plan(), reward=1.0, cost=-1.0, violations=("x",), source="bad")
    sel = select_plan([bad], Preference(0.5))
    assert sel.chosen.plan.status == PlanStatus.REFUSED and "violation" in sel.chosen.plan.rationale


def test_utility_is_monotone_in_w_for_a_safer_candidate():
    """Raising w never makes the selection pick a costlier plan (a Pareto-sweep invariant)."""
    cands = [Candidate(_plan(), 1.0, -0.1, source="a"), Candidate(_plan(), 0.7, -0.6, source="b"),
             Candidate(_plan(PlanStatus.REFUSED), 0.1, -1.2, source="c")]
    costs = [select_plan(cands, Preference(w / 10)).chosen.cost for w in range(2, 11)]
    assert costs == sorted(costs, reverse=True)
