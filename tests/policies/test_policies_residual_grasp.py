"""The residual grasp policy's pieces: the correction's bounds and smoothness, the observation, and
that with no policy (or a zero action) the executor is exactly the scripted one."""

from __future__ import annotations

import numpy as np
import pytest

from dexsafe.policies.residual_grasp import (
    GraspObservation,
    ResidualGraspExecutor,
    ResidualScales,
    TrackedObject,
    canonical_quat,
    next_correction,
    residual_basis,
    shape_features,
)
from dexsafe.policies.scripted_grasp import Phase, ScriptedGraspExecutor

N = 10  # 6 wrist joints + two fingers of two closing joints each
CLOSING = np.array([0, 0, 0, 0, 0, 0, 1, 1, -1, 0], dtype=float)
FINGERS = {"thumb": [8], "index": [6, 7]}
LOWER, UPPER = np.full(N, -2.0), np.full(N, 2.0)
BOX = shape_features("box", [0.03, 0.04, 0.08])


def _executor() -> ScriptedGraspExecutor:
    pre = np.zeros(N)
    pre[2] = 0.5
    return ScriptedGraspExecutor(pre, CLOSING, LOWER, UPPER, FINGERS, 0.1)


def test_basis_moves_each_fingers_closing_joints_together():
    scales = ResidualScales()
    basis, step = residual_basis(CLOSING, FINGERS, scales)
    assert basis.shape == (N, 8) and step.shape == (8,)
    np.testing.assert_allclose(basis @ np.r_[np.zeros(6), 1.0, 0.0], [0] * 6 + [0.3, 0.3, 0, 0])  # index
    np.testing.assert_allclose(basis @ np.r_[np.zeros(6), 0.0, 1.0], [0] * 8 + [-0.3, 0])  # thumb closes negative
    np.testing.assert_allclose(basis @ np.r_[1.0, np.zeros(7)], [scales.wrist_xyz] + [0] * 9)
    assert basis[9].sum() == 0, "a non-closing finger joint is never corrected"


def test_correction_is_bounded_and_rate_limited():
    _, step = residual_basis(CLOSING, FINGERS, ResidualScales())
    c = np.zeros(8)
    for _ in range(200):
        c2 = next_correction(c, np.full(8, 50.0), step)
        assert np.all(np.abs(c2 - c) <= step + 1e-12)
        c = c2
    np.testing.assert_allclose(c, 1.0)  # saturates at the scale, however large the action
    with pytest.raises(ValueError, match="non-finite"):
        next_correction(c, np.full(8, np.nan), step)
    with pytest.raises(ValueError, match="shape"):
        next_correction(c, np.zeros(3), step)


def test_without_a_policy_the_executor_is_the_scripted_one():
    a, b = _executor(), _executor()
    obs = GraspObservation(list(FINGERS), N, 1, 0.02)
    wrapped = ResidualGraspExecutor(b, None, obs, ResidualScales())
    q = np.zeros(N)
    objects = [TrackedObject(np.array([0.0, 0.0, 0.4]), np.array([0, 0, 0, 1.0]), BOX)]
    for k in range(400):
        ta = a.update(0.02 * k, q, {"index": 5.0, "thumb": 5.0}, dt=0.02)
        tb = wrapped.update(0.02 * k, q, {"index": 5.0, "thumb": 5.0}, 0.02, np.zeros(N), objects)
        np.testing.assert_array_equal(ta, tb)
        q = ta
    assert b.phase == a.phase == Phase.DONE


def test_a_policy_acts_from_the_close_phase_on_and_stays_within_its_scale():
    seen = []

    def policy(o):
        seen.append(o)
        return np.full(8, 1.0)

    obs = GraspObservation(list(FINGERS), N, 1, 0.02)
    wrapped = ResidualGraspExecutor(_executor(), policy, obs, ResidualScales())
    q = np.zeros(N)
    objects = [TrackedObject(np.array([0.0, 0.0, 0.4]), np.array([0, 0, 0, -1.0]), BOX)]
    for k in range(600):
        t = wrapped.update(0.02 * k, q, {}, 0.02, np.zeros(N), objects)
        base_phase = wrapped.phase
        if not seen:
            assert base_phase == Phase.REACH and not np.any(wrapped.residual)
        assert np.all(np.abs(wrapped.residual) <= np.abs(wrapped.basis).sum(axis=1) + 1e-12)
        q = t
    assert seen and all(o.shape == (obs.size,) and o.dtype == np.float32 for o in seen)
    assert wrapped.phase == Phase.DONE, "the wrist correction does not stall the executor's tracking checks"


def test_observation_orders_objects_along_the_wrist_and_reports_rise():
    obs = GraspObservation(["b", "a"], N, 2, 0.1)
    obs.start(np.zeros(N))
    q = np.zeros(N)
    far = TrackedObject(np.array([0.1, 0.0, 0.4]), np.array([0, 0, 0, 1.0]), BOX)
    near = TrackedObject(np.array([-0.1, 0.0, 0.4]), np.array([0, 0, 0, 1.0]), shape_features("cylinder", [0.02, 0.08]))
    first = obs(q, np.zeros(N), q, np.zeros(8), {"a": 10.0}, [far, near], Phase.CLOSE, 0.0)
    assert first.shape == (obs.size,)
    forces = first[4 * N + 8: 4 * N + 10]
    np.testing.assert_allclose(forces, [1.0, 0.0])  # fingers sorted: a, b
    near_rel = first[4 * N + 10: 4 * N + 13]
    np.testing.assert_allclose(near_rel, [-0.1, 0.0, 0.4], atol=1e-6)  # the near object comes first
    near.position = near.position + [0, 0, 0.05]
    second = obs(q, np.zeros(N), q, np.zeros(8), {}, [far, near], Phase.LIFT, 0.1)
    np.testing.assert_allclose(second[4 * N + 10 + 7: 4 * N + 10 + 11], [0, 0, 0.5, 0.05], atol=1e-6)  # vel, rise
    np.testing.assert_allclose(second[4 * N + 10 + 11: 4 * N + 10 + 15], [0.02, 0.02, 0.04, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="2 objects"):
        obs(q, np.zeros(N), q, np.zeros(8), {}, [far], Phase.LIFT, 0.1)
    np.testing.assert_allclose(canonical_quat([0, 0, 0, -2.0]), [0, 0, 0, 1.0])


def test_shape_features():
    np.testing.assert_allclose(shape_features("box", [0.02, 0.04, 0.06]), [0.01, 0.02, 0.03, 0.0])
    np.testing.assert_allclose(shape_features("capsule", [0.01, 0.04]), [0.01, 0.01, 0.03, 1.0])
    np.testing.assert_allclose(shape_features("sphere", [0.03]), [0.03, 0.03, 0.03, 1.0])
    with pytest.raises(ValueError, match="mesh"):
        shape_features("mesh", [1.0])
    with pytest.raises(ValueError, match="size"):
        shape_features("box", [0.02])


def test_a_policy_that_refuses_its_input_hands_over_to_the_scripted_executor_smoothly():
    """A NaN object pose (a bad tracker message) mid-grasp: the policy stops, the grasp goes on scripted,
    and the correction eases back to zero at its rate limit instead of jumping."""
    from dexsafe.policies.checkpoint import Policy
    from dexsafe.policies.networks import GaussianActor

    obs = GraspObservation(list(FINGERS), N, 1, 0.02)
    actor = GaussianActor(obs.size, 8, (8,), "tanh", 0.0)
    torch_policy = Policy(actor, None, -np.ones(8), np.ones(8))
    wrapped = ResidualGraspExecutor(_executor(), lambda o: np.clip(torch_policy(o) + 1.0, -1, 1), obs,
                                    ResidualScales())
    q = np.zeros(N)
    good = TrackedObject(np.array([0.0, 0.0, 0.4]), np.array([0, 0, 0, 1.0]), BOX)
    bad = TrackedObject(np.array([0.0, np.nan, 0.4]), np.array([0, 0, 0, 1.0]), BOX)
    residuals = []
    for k in range(600):
        objects = [bad] if wrapped.phase == Phase.LIFT else [good]
        q = wrapped.update(0.02 * k, q, {}, 0.02, np.zeros(N), objects)
        residuals.append(np.abs(wrapped.residual).max())
    assert wrapped.policy is None and "NaN" in wrapped.fallback_reason
    assert max(residuals) > 0.01, "the policy had corrected the targets before it stopped"
    assert residuals[-1] == 0.0 and wrapped.phase == Phase.DONE
    steps = np.abs(np.diff(residuals))
    assert steps.max() <= wrapped.step.max() * np.abs(wrapped.basis).max() + 1e-9, "no jump when it hands over"


def test_objects_keep_their_slot_for_the_whole_grasp():
    obs = GraspObservation(["a"], N, 2, 0.1)
    obs.start(np.zeros(N))
    q = np.zeros(N)
    left = TrackedObject(np.array([-0.05, 0.0, 0.4]), np.array([0, 0, 0, 1.0]), BOX)
    right = TrackedObject(np.array([0.05, 0.0, 0.4]), np.array([0, 0, 0, 1.0]), BOX)
    obs(q, np.zeros(N), q, np.zeros(7), {}, [right, left], Phase.CLOSE, 0.0)
    left.position = np.array([0.2, 0.0, 0.45])  # carried past the other one: still the first slot
    o = obs(q, np.zeros(N), q, np.zeros(7), {}, [right, left], Phase.LIFT, 0.1)
    first = 4 * N + 7 + 1
    np.testing.assert_allclose(o[first: first + 3], [0.2, 0.0, 0.45], atol=1e-6)
    np.testing.assert_allclose(o[first + 10], 0.05, atol=1e-6)  # its own rise
