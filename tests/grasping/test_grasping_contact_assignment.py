"""Contact assignment: the nearest-patch start, the mid-run re-assignment of an object's contacts
(``refine.reassign_at``) and the energy-minimising re-seat (``refine.reseat_mode: best``), checked
against brute-force searches."""

from __future__ import annotations

import itertools

import pytest
import torch

from dexsafe.grasping.config import GraspConfigError, load_config
from dexsafe.grasping.contact_assignment import best_contacts, nearest_contacts, patch_distances, reassigned_contacts
from dexsafe.grasping.proposals import GraspProposer, ObjectPose
from dexsafe.sim.scene_spec import ObjectSpec

FAST = {"langevin": {"steps": 2}, "refine": {"steps": 4}}


def two_boxes() -> list[ObjectPose]:
    a = ObjectSpec("box_a", "box a", "box", (0.022, 0.022, 0.06), mass=0.05, friction=0.9)
    b = ObjectSpec("box_b", "box b", "box", (0.022, 0.022, 0.06), mass=0.05, friction=0.9)
    return [ObjectPose(a, (0.0, -0.03, 0.43)), ObjectPose(b, (0.0, 0.03, 0.43))]


@pytest.fixture(scope="module", params=["dexsafe_hand", "shadow_hand"])
def setup(request):
    gp = GraspProposer(request.param, load_config("fast_cpu").replace(**FAST))
    energy = gp.energy_for(two_boxes(), 0.4)
    st = gp.initial_state(energy, 6, torch.Generator().manual_seed(2))
    return gp, energy, st


def _rules_hold(hand, cpi, K):
    body, chain = hand.cand_body[cpi], hand.finger_of_body[hand.cand_body[cpi]]
    for b in range(cpi.shape[0]):
        assert len(set(body[b].tolist())) == cpi.shape[1], "one link serves one contact"
        for j in range(cpi.shape[1] // K):
            fingers = chain[b, j * K:(j + 1) * K].tolist()
            assert len(set(fingers)) == K, "an object's contacts come from different fingers"


def test_nearest_assignment_is_the_greedy_optimum_under_the_rules(setup):
    gp, energy, st = setup
    hand, K = gp.hand, energy.k
    cpi = nearest_contacts(energy, st.q)
    _rules_hold(hand, cpi, K)
    dists = patch_distances(energy, st.q)
    body, chain = hand.cand_body, hand.finger_of_body[hand.cand_body]
    for b in range(cpi.shape[0]):  # brute force, slot by slot in the documented order
        taken_links: set[int] = set()
        for j, dist in enumerate(dists):
            fingers: set[int] = set()
            for s in range(j * K, (j + 1) * K):
                ok = [p for p in range(len(body)) if int(body[p]) not in taken_links and int(chain[p]) not in fingers]
                best = min(ok, key=lambda p: float(dist[b, p]))
                assert float(dist[b, cpi[b, s]]) == pytest.approx(float(dist[b, best]), abs=1e-9)
                taken_links.add(int(body[cpi[b, s]]))
                fingers.add(int(chain[cpi[b, s]]))


def test_only_objects_whose_contacts_are_far_are_reassigned(setup):
    gp, energy, st = setup
    hand, K = gp.hand, energy.k
    good = nearest_contacts(energy, st.q)
    # Object 1's contacts moved to the patches farthest from it (still one link each, distinct fingers),
    # object 0's left on its nearest patches in another slot order (a re-assignment would restore it).
    dist1 = patch_distances(energy, st.q)[1]
    body, chain = hand.cand_body, hand.finger_of_body[hand.cand_body]
    cpi = good.clone()
    cpi[:, :K] = good[:, :K].roll(1, dims=1)
    for b in range(cpi.shape[0]):
        used = {int(body[p]) for p in good[b, :K]}
        far = sorted(range(len(body)), key=lambda p: -float(dist1[b, p]))
        picks: list[int] = []
        for p in far:
            if int(body[p]) not in used and all(int(chain[p]) != int(chain[x]) for x in picks):
                picks.append(p)
                used.add(int(body[p]))
            if len(picks) == K:
                break
        cpi[b, K:2 * K] = torch.tensor(picks)
    cpw = torch.randn(cpi.shape + (4,), dtype=st.cpw.dtype, generator=torch.Generator().manual_seed(1))
    before = energy.terms(st.q, cpi, cpw, normal_noise=0.0).contact_distance_per_object
    threshold = float(before[:, 0].max()) + 1e-4  # object 0 is near enough, object 1 is not
    assert (before[:, 1] > threshold).all()
    new, new_w, moved = reassigned_contacts(energy, st.q, cpi, cpw, threshold)
    assert torch.equal(moved, before > threshold)
    assert moved[:, 1].all(), "the contacts put on the far patches are reassigned"
    keep = ~moved
    for j in range(2):
        rows = keep[:, j]
        assert torch.equal(new[rows, j * K:(j + 1) * K], cpi[rows, j * K:(j + 1) * K])
        assert torch.equal(new_w[rows, j * K:(j + 1) * K], cpw[rows, j * K:(j + 1) * K])
    _rules_hold(hand, new, K)
    changed = new != cpi
    assert (new_w[changed] == 0).all(), "a new contact starts at its patch centre"
    after = energy.terms(st.q, new, new_w, normal_noise=0.0).contact_distance_per_object
    assert (after[:, 1] < before[:, 1]).all()
    # Where nothing is far, nothing moves.
    same, same_w, none = reassigned_contacts(energy, st.q, cpi, cpw, 10.0)
    assert not none.any() and torch.equal(same, cpi) and torch.equal(same_w, cpw)


def _contact_energy(energy, q, cpi, cpw, w_dis):
    """The two terms the contacts change, with the filter's exact normals: w_fc FC + w_dis distance (B,)."""
    t = energy.terms(q, cpi, cpw, normal_noise=0.0, rounding=0.0)
    return energy.cfg.w_fc * t.force_closure + w_dis * t.contact_distance


def test_best_contacts_lower_the_contact_energy_under_the_rules(setup):
    gp, energy, st = setup
    hand, K, wd = gp.hand, energy.k, energy.cfg.w_dis_refine
    cpi = nearest_contacts(energy, st.q)
    cpw = torch.randn(cpi.shape + (4,), dtype=st.cpw.dtype, generator=torch.Generator().manual_seed(4))
    before = _contact_energy(energy, st.q, cpi, cpw, wd)
    new, new_w, moved = best_contacts(energy, st.q, cpi, cpw, wd)
    _rules_hold(hand, new, K)
    assert not ((new != cpi) & ~moved).any(), "a slot on a new patch is a moved slot"
    assert (new_w[moved] == 0).all() and torch.equal(new_w[~moved], cpw[~moved])
    after = _contact_energy(energy, st.q, new, new_w, wd)
    assert (after <= before + 1e-5).all()
    assert (after < before - 1e-3).any(), "the nearest patches are not the best ones somewhere in the batch"
    # The sweep ends with the last slot: no patch (centre) allowed there under the rules lowers the energy.
    body, chain = hand.cand_body, hand.finger_of_body[hand.cand_body]
    s = new.shape[1] - 1
    for b in range(new.shape[0]):
        links = {int(body[p]) for p in new[b, :s]}
        fingers = {int(chain[p]) for p in new[b, s - K + 1:s]}
        ok = [p for p in range(len(body)) if int(body[p]) not in links and int(chain[p]) not in fingers]
        trial = new[b].repeat(len(ok), 1)
        trial[:, s] = torch.tensor(ok)
        w = new_w[b].repeat(len(ok), 1, 1)
        w[:, s] = 0
        e = _contact_energy(energy, st.q[b].repeat(len(ok), 1), trial, w, wd)
        assert float(e.min()) >= float(after[b]) - 1e-5


def test_exclusive_fingers_give_each_object_its_own_fingers(setup):
    """``exclusive_fingers``: after one sweep no finger serves two objects (both hands have at least
    as many fingers as the 2 x 2 contact slots), starting from nearest patches that share fingers."""
    gp, energy, st = setup
    hand, K = gp.hand, energy.k
    chain = hand.finger_of_body[hand.cand_body]
    gen = torch.Generator().manual_seed(6)
    q = st.q.repeat(4, 1)
    q[:, :3] += 0.01 * torch.randn(q.shape[0], 3, generator=gen, dtype=q.dtype)
    cpi = nearest_contacts(energy, q)
    shared = lambda c: torch.tensor([len(set(chain[row].tolist())) < c.shape[1] for row in c])  # noqa: E731
    assert shared(cpi).any(), "the start should split some finger between the two boxes"
    cpw = torch.zeros(cpi.shape + (4,), dtype=st.cpw.dtype)
    new, _, _ = best_contacts(energy, q, cpi, cpw, energy.cfg.w_dis_refine, exclusive_fingers=True)
    _rules_hold(hand, new, K)
    assert not shared(new).any()
    plain, _, _ = best_contacts(energy, q, cpi, cpw, energy.cfg.w_dis_refine)
    assert shared(plain).any(), "without the option a finger may still serve both boxes"


def test_refinement_reassigns_at_the_configured_fractions_and_stays_seeded():
    cfg = load_config("fast_cpu").replace(langevin={"steps": 2}, refine={"steps": 10, "reassign_at": [0.2, 0.5],
                                                                       "reassign_distance": 0.0})
    gp = GraspProposer("dexsafe_hand", cfg)
    a = gp.propose(two_boxes(), num=2, batch=4, time_budget=60.0, seed=5, table_height=0.4)
    b = gp.propose(two_boxes(), num=2, batch=4, time_budget=60.0, seed=5, table_height=0.4)
    assert torch.equal(a.optim.state.cpi, b.optim.state.cpi) and torch.equal(a.optim.state.q, b.optim.state.q)
    # With a zero threshold every object is reassigned: the final contacts are the nearest ones at the
    # pose of the last reassignment, which obey the rules.
    _rules_hold(gp.hand, a.optim.state.cpi, gp.config.hand.contacts_per_object)
    for bad in ([1.0], [-0.1], ["x"]):
        with pytest.raises(GraspConfigError):
            load_config("fast_cpu").replace(refine={"reassign_at": bad})


def test_fractions_are_read_in_order():
    cfg = load_config("fast_cpu").replace(refine={"reassign_at": [0.6, 0.3]})
    assert sorted(cfg.refine.reassign_at) == [0.3, 0.6]
    assert all(isinstance(f, float) for f in cfg.refine.reassign_at)
    assert list(itertools.chain(load_config("multigrasp").refine.reassign_at)) == []
