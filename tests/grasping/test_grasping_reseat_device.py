"""Contact re-seating in the Adam phase, and running the optimiser on another torch device."""

from __future__ import annotations

import pytest
import torch

from dexsafe.grasping.config import load_config
from dexsafe.grasping.contact_assignment import reseat, reseated_contacts
from dexsafe.grasping.proposals import GraspProposer, ObjectPose, resolve_device
from dexsafe.sim.scene_spec import ObjectSpec

FAST = {"langevin": {"steps": 4}, "refine": {"steps": 8}}


def cube() -> list[ObjectPose]:
    return [ObjectPose(ObjectSpec("cube", "cube", "box", (0.04, 0.04, 0.04), mass=0.05, friction=0.9),
                       (0.0, 0.0, 0.42))]


@pytest.fixture(scope="module")
def proposer():
    return GraspProposer("dexsafe_hand", load_config("fast_cpu").replace(**FAST))


def _patch_distance(energy, q, cpi):
    """Signed distance of each slot's patch centre to its object, (B, O*K)."""
    hand, K = energy.hand, energy.k
    fk = hand.forward_kinematics(q)
    centres = hand.transform(fk, hand.cand_body[cpi], hand.cand_corners[cpi].mean(2))
    return torch.cat([energy.objects[j].query(centres[:, j * K:(j + 1) * K])[0]
                      for j in range(len(energy.objects))], 1)


def test_a_contact_moves_to_the_patch_of_its_finger_nearest_its_object(proposer):
    hand = proposer.hand
    energy = proposer.energy_for(cube(), 0.4)
    st = proposer.initial_state(energy, 8, torch.Generator().manual_seed(3))
    fk = hand.forward_kinematics(st.q)
    centres = hand.transform(fk, hand.cand_body, hand.cand_corners.mean(1))
    dist = energy.objects[0].query(centres)[0]  # (B, P)
    chain = hand.finger_of_body[hand.cand_body]
    cpi = st.cpi.clone()
    # Put slot 0 on the patch of its own finger farthest from the cube, off the other slot's link.
    for b in range(cpi.shape[0]):
        same = (chain == chain[cpi[b, 0]]) & (hand.cand_body != hand.cand_body[cpi[b, 1]])
        cpi[b, 0] = int(torch.where(same, dist[b], torch.full_like(dist[b], -1.0)).argmax())
    new = reseated_contacts(energy, st.q, cpi)
    assert torch.equal(chain[new], chain[cpi]), "a contact never changes finger"
    assert (hand.cand_body[new[:, 0]] != hand.cand_body[new[:, 1]]).all(), "two contacts never share a link"
    before, after = _patch_distance(energy, st.q, cpi), _patch_distance(energy, st.q, new)
    assert (after <= before + 1e-7).all()
    assert (after[:, 0] < before[:, 0] - 1e-3).all(), "the far contact came closer to the cube"
    # Already on the nearest allowed patches: nothing moves.
    assert torch.equal(reseated_contacts(energy, st.q, new), new)


def test_reseating_is_kept_only_where_it_lowers_the_energy(proposer):
    energy = proposer.energy_for(cube(), 0.4)
    st = proposer.initial_state(energy, 16, torch.Generator().manual_seed(4))
    w = torch.randn(st.cpw.shape, generator=torch.Generator().manual_seed(5))
    cpi, cpw, moved = reseat(energy, st.q, st.cpi, w)
    e_old, _ = energy.energy(st.q, st.cpi, w, normal_noise=0.0)
    e_new, _ = energy.energy(st.q, cpi, cpw, normal_noise=0.0)
    assert (e_new <= e_old).all()
    assert torch.equal(cpi[~moved], st.cpi[~moved]) and torch.equal(cpw[~moved], w[~moved])
    changed = cpi != st.cpi
    assert (cpw[changed] == 0).all(), "a moved contact starts at its patch centre"


def test_refinement_with_reseating_runs_and_is_seeded():
    gp = GraspProposer("dexsafe_hand", load_config("fast_cpu").replace(langevin={"steps": 2},
                                                                       refine={"steps": 12, "reseat_every": 4}))
    a = gp.propose(cube(), num=2, batch=4, time_budget=60.0, seed=7, table_height=0.4)
    b = gp.propose(cube(), num=2, batch=4, time_budget=60.0, seed=7, table_height=0.4)
    assert torch.equal(a.optim.state.cpi, b.optim.state.cpi) and torch.equal(a.optim.state.q, b.optim.state.q)


def test_hand_model_moves_every_tensor_to_a_device(proposer):
    hand = proposer.hand
    assert hand.to("cpu") is hand
    meta = hand.to("meta")
    assert meta.device.type == "meta" and hand.device.type == "cpu"
    for name, v in vars(meta).items():
        if isinstance(v, torch.Tensor):
            assert v.device.type == "meta", name
    assert all(t.device.type == "meta" for pair in meta._joint_k.values() for t in pair)
    assert all(t.device.type == "cpu" for pair in hand._joint_k.values() for t in pair)
    fk_tensors = lambda h: [t for level in h._fk_levels for t in (level.parent, level.pos, level.rot)]  # noqa: E731
    fk_tensors_slots = lambda h: [t for level in h._fk_levels for s in level.slots  # noqa: E731
                                  for t in (s.hinge_var, s.hinge_k, s.anchor, s.slide_var) if t is not None]
    assert all(t.device.type == "meta" for t in fk_tensors(meta) + fk_tensors_slots(meta))
    assert all(t.device.type == "cpu" for t in fk_tensors(hand) + fk_tensors_slots(hand))


def test_device_names_resolve_or_fall_back_to_the_cpu_with_a_reason():
    assert resolve_device("cpu") == (torch.device("cpu"), None)
    dev, why = resolve_device("warp-drive")
    assert dev.type == "cpu" and "not a torch device" in why
    dev, why = resolve_device("meta")
    assert dev.type == "cpu" and "only cpu and cuda" in why
    dev, why = resolve_device("cuda:99")
    assert dev.type == "cpu" and why and "cuda:99" in why


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_gives_the_cpu_grasps():
    cfg = load_config("fast_cpu").replace(**FAST)
    cpu = GraspProposer("dexsafe_hand", cfg).propose(cube(), num=2, batch=8, time_budget=60.0, seed=1,
                                                      table_height=0.4)
    gpu = GraspProposer("dexsafe_hand", cfg, device="cuda").propose(cube(), num=2, batch=8, time_budget=60.0,
                                                                    seed=1, table_height=0.4)
    assert torch.allclose(cpu.optim.state.q, gpu.optim.state.q, atol=1e-3)
