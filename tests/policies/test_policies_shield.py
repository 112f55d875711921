"""The safety shield: one test per intervention, and seeded fuzz tests that nothing
the shield outputs ever violates its limits, whatever goes in."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dexsafe.policies.shield import (
    Intervention,
    JointState,
    SafetyShield,
    ShieldConfigError,
    ShieldLimits,
)

NAMES = ("wrist_x", "wrist_y", "wrist_z", "ff_j1", "ff_j2", "th_j1", "ff_abd")


def make_limits(**overrides) -> ShieldLimits:
    kwargs = dict(
        joint_names=NAMES,
        position_lower=[-0.5, -0.5, 0.0, 0.0, 0.0, -1.0, -0.3],
        position_upper=[0.5, 0.5, 0.8, 1.6, 1.6, 0.0, 0.3],
        max_velocity=[0.5, 0.5, 0.5, 2.0, 2.0, 2.0, 1.0],
        max_effort=[50, 50, 50, 1.0, 1.0, 1.0, 0.5],
        position_gain=[500, 500, 500, 2.0, 2.0, 2.0, 2.0],
        control_period=0.01,
        state_timeout=0.1,
        command_timeout=0.5,
        finger_joints={"ff": ("ff_j1", "ff_j2"), "th": ("th_j1",)},
        closing_direction=[0, 0, 0, 1, 1, -1, 0],
        max_contact_force=5.0,
        wrist_joints=("wrist_x", "wrist_y", "wrist_z"),
        wrist_origin=(0.0, 0.0, 0.3),
        workspace_lower=(-0.3, -0.4, 0.4),
        workspace_upper=(0.3, 0.4, 1.0),
    )
    kwargs.update(overrides)
    return ShieldLimits(**kwargs)


def idx(name: str) -> int:
    return NAMES.index(name)


def start(shield: SafetyShield, q=None, t=0.0):
    """Prime the shield with a first valid tick at posture q."""
    q = np.array([0.0, 0.0, 0.3, 0.5, 0.5, -0.5, 0.0]) if q is None else np.asarray(q, float)
    res = shield.filter(q, JointState(q, t), t)
    assert res.command is not None
    return q, res


# ---------------------------------------------------------------- per intervention
def test_passes_a_safe_command_unchanged():
    shield = SafetyShield(make_limits())
    q, first = start(shield)
    cmd = q.copy()
    cmd[idx("ff_j1")] += 0.01  # 1 rad/s for 0.01 s: under 2 rad/s
    res = shield.filter(cmd, JointState(q, 0.01), 0.01)
    assert res.passed_unchanged and res.cost == 0.0
    np.testing.assert_allclose(res.command, cmd)


def test_clamps_to_joint_limits():
    shield = SafetyShield(make_limits(position_gain=None))
    q = np.array([0.0, 0.0, 0.3, 1.59, 0.5, -0.5, 0.0])
    start(shield, q)
    cmd = q.copy()
    cmd[idx("ff_j1")] = 1.61
    res = shield.filter(cmd, JointState(q, 0.01), 0.01)
    assert Intervention.CLAMPED_TO_LIMITS in res.interventions
    assert res.affected_joints["clamped_to_limits"] == ("ff_j1",)
    assert res.command[idx("ff_j1")] == pytest.approx(1.6)
    assert res.cost == 1.0


def test_rate_limits_to_max_velocity_times_dt():
    shield = SafetyShield(make_limits(position_gain=None))
    q, _ = start(shield)
    cmd = q.copy()
    cmd[idx("ff_j1")] = 1.5
    res = shield.filter(cmd, JointState(q, 0.005), 0.005)  # half a tick
    assert Intervention.RATE_LIMITED in res.interventions
    assert res.command[idx("ff_j1")] == pytest.approx(q[idx("ff_j1")] + 2.0 * 0.005)
    # a late tick never allows more than one control period of motion
    res2 = shield.filter(cmd, JointState(q, 1.0), 1.0)
    assert res2.command[idx("ff_j1")] == pytest.approx(res.command[idx("ff_j1")] + 2.0 * 0.01)


def test_effort_cap_keeps_target_near_measured_position():
    shield = SafetyShield(make_limits())
    q, _ = start(shield)
    # ff_j1: effort 1.0 / gain 2.0 -> at most 0.5 rad from q
    q_now = q.copy()
    for k in range(1, 200):  # walk the command up, the finger is blocked at q
        cmd = q.copy()
        cmd[idx("ff_j1")] = 1.6
        res = shield.filter(cmd, JointState(q_now, k * 0.01), k * 0.01)
    assert res.command[idx("ff_j1")] == pytest.approx(q[idx("ff_j1")] + 0.5)
    assert Intervention.EFFORT_CAPPED in res.interventions


def test_force_cap_stops_fingers_in_contact_from_closing():
    shield = SafetyShield(make_limits(position_gain=None))
    q, _ = start(shield)
    cmd = q.copy()
    cmd[idx("ff_j1")] += 0.01  # closes (+1)
    cmd[idx("th_j1")] -= 0.01  # closes (-1)
    cmd[idx("ff_abd")] += 0.005  # not a closing joint of a capped finger
    res = shield.filter(cmd, JointState(q, 0.01), 0.01, contact_forces={"ff": 9.0, "th": 9.0})
    assert Intervention.FORCE_CAPPED in res.interventions
    assert res.command[idx("ff_j1")] == pytest.approx(q[idx("ff_j1")])
    assert res.command[idx("th_j1")] == pytest.approx(q[idx("th_j1")])
    assert res.command[idx("ff_abd")] == pytest.approx(cmd[idx("ff_abd")])
    assert res.cost == 1.0 and res.fingers_over_force_limit == ("ff", "th")
    # opening is still allowed
    cmd2 = q.copy()
    cmd2[idx("ff_j1")] -= 0.01
    res2 = shield.filter(cmd2, JointState(q, 0.02), 0.02, contact_forces=[9.0, 0.0])
    assert res2.command[idx("ff_j1")] == pytest.approx(cmd2[idx("ff_j1")])
    assert Intervention.FORCE_CAPPED not in res2.interventions


def test_workspace_box_tightens_wrist_limits():
    shield = SafetyShield(make_limits(position_gain=None))
    q = np.array([0.298, 0.0, 0.3, 0.5, 0.5, -0.5, 0.0])
    start(shield, q)
    cmd = q.copy()
    cmd[idx("wrist_x")] = 0.31  # joint limit 0.5 allows it, the box (x <= 0.3) does not
    res = shield.filter(cmd, JointState(q, 0.01), 0.01)
    assert res.interventions == (Intervention.WORKSPACE_CLAMPED,)
    assert res.command[idx("wrist_x")] == pytest.approx(0.3)
    # z: box z >= 0.4 with origin 0.3 -> joint >= 0.1 although the joint allows 0
    lower, _ = shield.limits.effective_bounds()
    assert lower[idx("wrist_z")] == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rejects_nonfinite_and_holds_last_safe(bad):
    shield = SafetyShield(make_limits())
    q, first = start(shield)
    cmd = q.copy()
    cmd[3] = bad
    res = shield.filter(cmd, JointState(q, 0.01), 0.01)
    assert res.interventions == (Intervention.REJECTED_NONFINITE,)
    assert res.holding and res.cost == 1.0
    np.testing.assert_array_equal(res.command, first.command)


@pytest.mark.parametrize("bad", [[0.1] * 3, [[0.1] * 7, [0.1] * 7], "abc", [None] * 7])
def test_rejects_wrong_length_or_garbage(bad):
    shield = SafetyShield(make_limits())
    q, first = start(shield)
    res = shield.filter(bad, JointState(q, 0.01), 0.01)
    # None entries convert to NaN: rejected as non-finite rather than as malformed
    assert res.interventions in (
        (Intervention.REJECTED_WRONG_LENGTH,),
        (Intervention.REJECTED_NONFINITE,),
    )
    np.testing.assert_array_equal(res.command, first.command)


def test_holds_on_stale_joint_state_and_stale_command():
    shield = SafetyShield(make_limits())
    q, first = start(shield)
    cmd = q + 0.001
    res = shield.filter(cmd, JointState(q, 0.0), 0.5)  # state 0.5 s old > 0.1 s
    assert res.interventions == (Intervention.HOLDING_STALE_STATE,)
    np.testing.assert_array_equal(res.command, first.command)
    assert res.cost == 0.0  # nothing unsafe was asked
    res = shield.filter(cmd, JointState(q, 0.9), 1.0, command_stamp=0.2)  # 0.8 s old > 0.5 s
    assert res.interventions == (Intervention.HOLDING_STALE_COMMAND,)
    np.testing.assert_array_equal(res.command, first.command)
    res = shield.filter(None, JointState(q, 1.0), 1.0)
    assert res.interventions == (Intervention.HOLDING_STALE_COMMAND,)
    res = shield.filter(cmd, None, 1.01)
    assert res.interventions == (Intervention.HOLDING_STALE_STATE,)


def test_clock_going_backwards_holds():
    shield = SafetyShield(make_limits())
    q, first = start(shield, t=5.0)
    res = shield.filter(q + 0.001, JointState(q, 4.0), 4.0)
    assert res.interventions == (Intervention.HOLDING_CLOCK_BACKWARDS,)
    np.testing.assert_array_equal(res.command, first.command)


def test_bad_joint_state_holds_and_no_state_sends_nothing():
    shield = SafetyShield(make_limits())
    res = shield.filter(np.zeros(7), None, 0.0)
    assert res.command is None and res.interventions == (Intervention.NO_JOINT_STATE,)
    res = shield.filter(np.zeros(7), JointState([np.nan] * 7, 0.0), 0.0)
    assert res.command is None
    q, first = start(shield, t=0.1)
    res = shield.filter(q, JointState([0.0] * 3, 0.11), 0.11)
    assert res.interventions == (Intervention.HOLDING_BAD_STATE,)
    np.testing.assert_array_equal(res.command, first.command)


def test_first_command_starts_from_measured_posture_clamped():
    shield = SafetyShield(make_limits(position_gain=None))
    q = np.array([0.0, 0.0, 0.3, 1.7, 0.5, -0.5, 0.0])  # ff_j1 measured beyond its limit
    res = shield.filter(q, JointState(q, 0.0), 0.0)
    assert res.command[idx("ff_j1")] == pytest.approx(1.6)


def test_reset_forgets_the_last_command():
    shield = SafetyShield(make_limits(position_gain=None))
    q, _ = start(shield)
    shield.reset()
    assert shield.last_command is None
    q2 = q.copy()
    q2[idx("ff_j1")] = 1.2
    res = shield.filter(q2, JointState(q2, 1.0), 1.0)
    assert res.passed_unchanged


# ---------------------------------------------------------------- configuration
def test_limits_validation_messages():
    with pytest.raises(ShieldConfigError, match="position_lower > position_upper for joints"):
        make_limits(position_lower=[1.0] * 7)
    with pytest.raises(ShieldConfigError, match="max_velocity must be finite and > 0"):
        make_limits(max_velocity=0.0)
    with pytest.raises(ShieldConfigError, match="has 2 entries, expected 7"):
        make_limits(max_velocity=[1.0, 2.0])
    with pytest.raises(ShieldConfigError, match="names unknown joints"):
        make_limits(finger_joints={"ff": ("nope",)})
    with pytest.raises(ShieldConfigError, match="does not overlap"):
        SafetyShield(make_limits(workspace_lower=(2.0, -1, 0), workspace_upper=(3.0, 1, 1)))


def test_from_dict_and_urdf(tmp_path):
    desc = {
        "joints": {
            "a": {"lower": -1, "upper": 1, "velocity": 2, "effort": 3},
            "b": {"lower": 0, "upper": 2, "velocity": 1},
        },
        "control_period": 0.02,
        "state_timeout": 0.2,
    }
    lim = ShieldLimits.from_dict(desc)
    assert lim.joint_names == ("a", "b")
    assert list(lim.max_effort) == [3.0, math.inf]
    assert lim.control_period == 0.02
    with pytest.raises(ShieldConfigError, match="unknown shield settings"):
        ShieldLimits.from_dict({**desc, "stale_after": 1.0})
    urdf = tmp_path / "hand.urdf"
    urdf.write_text(
        """<robot name="h">
        <joint name="j1" type="revolute"><limit lower="-0.5" upper="0.5" velocity="1.5" effort="2"/></joint>
        <joint name="fixed" type="fixed"/>
        <joint name="j2" type="prismatic"><limit lower="0" upper="0.1" velocity="0.2" effort="10"/></joint>
        </robot>"""
    )
    lim = ShieldLimits.from_urdf(urdf, control_period=0.05)
    assert lim.joint_names == ("j1", "j2")
    assert list(lim.position_upper) == [0.5, 0.1]


def test_default_shield_yaml_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "config" / "shield" / "example_hand.yaml"
    lim = ShieldLimits.from_yaml(path)
    SafetyShield(lim)
    assert lim.num_joints > 0


# ---------------------------------------------------------------- fuzz / properties
def _garbage_command(rng: np.random.Generator, n: int):
    kind = rng.integers(0, 10)
    if kind == 0:
        return None
    if kind == 1:
        return rng.normal(size=int(rng.integers(0, 2 * n)))  # wrong length (mostly)
    if kind == 2:
        v = rng.normal(size=n)
        v[rng.integers(0, n)] = rng.choice([np.nan, np.inf, -np.inf])
        return v
    if kind == 3:
        return rng.normal(scale=1e12, size=n)
    if kind == 4:
        return rng.choice([np.finfo(float).max, -np.finfo(float).max, 0.0], size=n)
    if kind == 5:
        return list(rng.uniform(-3, 3, size=n))
    return rng.uniform(-2, 2, size=n)


def _garbage_state(rng: np.random.Generator, n: int, now: float):
    kind = rng.integers(0, 8)
    if kind == 0:
        return None
    if kind == 1:
        return JointState(rng.normal(size=n), now - rng.uniform(0.1, 5.0))  # stale
    if kind == 2:
        p = rng.normal(size=n)
        p[0] = np.nan
        return JointState(p, now)
    if kind == 3:
        return JointState(rng.normal(size=n + 1), now)
    return JointState(rng.uniform(-3, 3, size=n), now - rng.uniform(0, 0.05))


@pytest.mark.parametrize("seed", range(6))
def test_fuzz_no_output_ever_violates_limits(seed):
    rng = np.random.default_rng(seed)
    limits = make_limits() if seed % 2 == 0 else make_limits(position_gain=None)
    shield = SafetyShield(limits)
    lower, upper = limits.effective_bounds()
    vmax = np.asarray(limits.max_velocity)
    closing = np.asarray(limits.closing_direction)
    fingers = {f: limits.index_of(j) for f, j in limits.finger_joints.items()}
    now = 0.0
    prev_out, prev_time = None, None
    sent = 0
    for _ in range(3000):
        dt = rng.choice([0.0, 0.001, 0.01, 0.01, 0.01, 0.05, 2.0, -0.5])
        now += float(dt)
        cmd = _garbage_command(rng, limits.num_joints)
        state = _garbage_state(rng, limits.num_joints, now)
        forces = (
            None
            if rng.random() < 0.5
            else {"ff": float(rng.choice([0.0, 3.0, 9.0, np.nan])), "th": float(rng.uniform(0, 10)), "palm": 99.0}
        )
        if rng.random() < 0.02:  # unreadable forces: every finger counts as over its limit
            forces = ["garbage", [1.0, "x"], {"ff": None}, [np.inf]][rng.integers(4)]
        now_in = now if rng.random() > 0.01 else [np.nan, np.inf, "soon"][rng.integers(3)]
        stamp = None if rng.random() < 0.7 else now - float(rng.uniform(0, 1.0))
        res = shield.filter(cmd, state, now_in, forces, command_stamp=stamp)
        assert res.cost in (0.0, 1.0)
        if now_in is not now:
            assert res.interventions[0] is Intervention.HOLDING_BAD_CLOCK
            assert res.command is None or prev_out is None or np.array_equal(res.command, prev_out)
            if res.command is not None:
                prev_out = res.command
            continue
        if res.command is None:
            assert prev_out is None  # once something was sent, the shield always has a hold
            continue
        out = res.command
        sent += 1
        assert out.shape == (limits.num_joints,) and np.isfinite(out).all()
        assert (out >= lower - 1e-12).all() and (out <= upper + 1e-12).all(), res
        if prev_out is not None:
            allowed = vmax * min(max(now - prev_time, 0.0), limits.control_period)
            assert (np.abs(out - prev_out) <= allowed + 1e-9).all(), (res, allowed)
            if forces is not None:
                if isinstance(forces, dict):
                    items = forces.items()
                else:  # a sequence in finger order; unreadable -> every finger over
                    try:
                        items = list(zip(fingers, np.atleast_1d(np.asarray(forces, float))))
                    except (TypeError, ValueError):
                        items = [(f, np.nan) for f in fingers]
                for finger, force in items:
                    force = np.nan if force is None else force
                    if finger in fingers and not (abs(force) <= limits.max_contact_force):
                        i = fingers[finger]
                        # a finger over its force limit never closes past both the previous
                        # output and its measured position (clamped to its limits)
                        bound = closing[i] * prev_out[i]
                        if state is not None and np.shape(state.position) == out.shape:
                            q = np.clip(np.asarray(state.position, float), lower, upper)
                            if np.isfinite(q).all():
                                bound = np.maximum(bound, closing[i] * q[i])
                        assert (closing[i] * out[i] <= bound + 1e-12).all()
        if prev_time is None or now >= prev_time:
            prev_time = now
        prev_out = out
    assert sent > 100


def test_median_tick_compute_time_is_well_under_a_millisecond():
    import time

    shield = SafetyShield(make_limits())
    q, _ = start(shield)
    rng = np.random.default_rng(0)
    times = []
    for k in range(2000):
        cmd = q + rng.normal(scale=0.05, size=q.size)
        t0 = time.perf_counter()
        shield.filter(cmd, JointState(q, k * 0.01), k * 0.01, {"ff": 1.0, "th": 6.0})
        times.append(time.perf_counter() - t0)
    # The median is robust on a shared machine; the p99 goal (< 1 ms) is a benchmark row
    # (dexsafe.policies.benchmarks.run_shield), not a unit-test assertion.
    p50 = float(np.percentile(times, 50))
    assert p50 < 1e-3, f"p50 {p50 * 1e6:.0f} us"


def test_shield_benchmark_rows():
    from dexsafe.policies.benchmarks import run_shield

    rows = run_shield(progress=lambda _msg: None, ticks=300)
    assert [r.name for r in rows] == ["shield tick p50", "shield tick p99"]
    assert all(math.isfinite(r.value) and r.value > 0 and r.unit == "ms" for r in rows)
