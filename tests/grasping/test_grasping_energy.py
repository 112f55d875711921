"""Energy terms: gradients against finite differences; the optimiser lowers the energy."""

from __future__ import annotations

import math

import pytest
import torch

from dexsafe.grasping.config import load_config
from dexsafe.grasping.energy import GraspEnergy
from dexsafe.grasping.optimizer import OptimState, langevin, refine
from dexsafe.grasping.proposals import GraspProposer, ObjectPose
from dexsafe.sim.scene_spec import ObjectSpec

TERMS = ["force_closure", "contact_distance", "penetration", "joint_limits"]


def two_boxes() -> list[ObjectPose]:
    a = ObjectSpec("box_a", "box a", "box", (0.022, 0.022, 0.06), mass=0.05)
    b = ObjectSpec("box_b", "box b", "cylinder", (0.012, 0.06), mass=0.05)
    return [ObjectPose(a, (0.0, -0.03, 0.43)), ObjectPose(b, (0.0, 0.03, 0.43))]


@pytest.fixture(scope="module")
def setup():
    cfg = load_config("fast_cpu").replace(energy={"normal_noise": 0.0})
    gp = GraspProposer("dexsafe_hand", cfg, dtype=torch.float64)
    energy = gp.energy_for(two_boxes(), table_height=0.4)
    gen = torch.Generator().manual_seed(3)
    st = gp.initial_state(energy, 4, gen)
    # Move the hand down into the objects so every term is active somewhere in the batch.
    st.q[:, 2] -= torch.linspace(0.0, 0.05, 4, dtype=torch.float64)
    st.q[0, 9] = gp.hand.joint_upper[0] + 0.1  # a joint beyond its limit
    st.cpw = torch.randn(st.cpw.shape, generator=gen, dtype=torch.float64)
    return gp, energy, st


@pytest.mark.parametrize("term, rounding", [(t, None) for t in TERMS] + [("force_closure", 0.0)])
def test_term_gradients_match_finite_differences(setup, term, rounding):
    """``rounding`` None: the profile's rounded-edge normals in FC (``energy.fc_rounding``); 0: exact normals."""
    gp, energy, st = setup
    q = st.q.clone().requires_grad_(True)
    w = st.cpw.clone().requires_grad_(True)
    value = lambda q_, w_: getattr(  # noqa: E731
        energy.terms(q_, st.cpi, w_, normal_noise=0.0, rounding=rounding), term).sum()
    v = value(q, w)
    assert torch.isfinite(v)
    gq, gw = torch.autograd.grad(v, (q, w), allow_unused=True)
    gq = torch.zeros_like(q) if gq is None else gq
    gw = torch.zeros_like(w) if gw is None else gw
    h = 1e-7
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, q.numel(), (16,), generator=g)
    bad = 0
    with torch.no_grad():
        for i in idx.tolist():
            dq = torch.zeros_like(q).view(-1)
            dq[i] = h
            dq = dq.view_as(q)
            fd = (value(q + dq, w) - value(q - dq, w)) / (2 * h)
            an = gq.view(-1)[i]
            bad += not math.isclose(float(fd), float(an), rel_tol=1e-3, abs_tol=1e-4)
        for i in torch.randint(0, w.numel(), (4,), generator=g).tolist():
            dw = torch.zeros_like(w).view(-1)
            dw[i] = h
            dw = dw.view_as(w)
            fd = (value(q, w + dw) - value(q, w - dw)) / (2 * h)
            bad += not math.isclose(float(fd), float(gw.view(-1)[i]), rel_tol=1e-3, abs_tol=1e-4)
    assert bad <= 1, f"{bad} of 20 partial derivatives of {term} disagree with finite differences"
    if term != "joint_limits":
        assert gq.abs().sum() > 0


def test_every_term_is_active_in_the_setup(setup):
    gp, energy, st = setup
    t = energy.terms(st.q, st.cpi, st.cpw, normal_noise=0.0)
    for term in TERMS:
        assert getattr(t, term).max() > 0, term
    assert t.pen_object.max() > 0 and t.pen_table.max() > 0


def test_langevin_and_adam_lower_the_energy(setup):
    gp, energy, st0 = setup
    cfg = gp.config.replace(langevin={"steps": 10}, refine={"steps": 15})
    gen = torch.Generator().manual_seed(0)
    st = OptimState(st0.q.clone(), st0.cpi.clone(), torch.zeros_like(st0.cpw))
    e0 = energy.energy(st.q, st.cpi, st.cpw, normal_noise=0.0)[0]
    st_a, n, acc, cut = langevin(energy, st, cfg, gen, deadline=math.inf)
    e_a = energy.energy(st_a.q, st_a.cpi, st_a.cpw, normal_noise=0.0)[0]
    assert n == 10 and not cut and 0 < acc <= 1
    st_b, nb, _ = refine(energy, st_a, cfg, gen, deadline=math.inf)
    e_b = energy.energy(st_b.q, st_b.cpi, st_b.cpw, normal_noise=0.0)[0]
    assert nb == 15
    assert e_a.mean() < e0.mean() and e_b.mean() < e_a.mean()


def test_energy_needs_objects():
    gp = GraspProposer("dexsafe_hand")
    with pytest.raises(ValueError, match="at least one object"):
        GraspEnergy(gp.hand, [], gp.config.energy)


def test_contact_switching_resamples_one_slot_per_object(setup):
    gp, energy, st0 = setup
    cfg = gp.config.replace(langevin={"steps": 1, "switch_prob": 1.0, "temperature": 1e9})
    st = OptimState(st0.q.clone(), st0.cpi.clone(), torch.zeros_like(st0.cpw))
    out, _, acc, _ = langevin(energy, st, cfg, torch.Generator().manual_seed(1), deadline=math.inf)
    assert acc == 1.0  # at an enormous temperature every proposal is accepted
    changed = (out.cpi != st.cpi).view(st.cpi.shape[0], len(energy.objects), energy.k).sum(-1)
    assert (changed <= 1).all() and changed.sum() > 0
