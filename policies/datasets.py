"""Offline datasets: the format every offline algorithm and ``dexsafe dataset`` share.

Layout (D4RL's keys, one row per transition ``t``, ``T`` rows)::

    observations       float32 [T, obs_dim]   o_t
    actions            float32 [T, act_dim]   a_t, in the env's action box (not normalised)
    rewards            float32 [T]            r_t
    costs              float32 [T]            c_t (Safety-Gymnasium cost; 0 where unknown)
    terminals          bool    [T]            the MDP ended at t+1 (no bootstrapping)
    timeouts           bool    [T]            the episode was cut at t+1 (time limit; bootstrap)
    next_observations  float32 [T, obs_dim]   o_{t+1} (optional; derived when missing, see below)

plus ``metadata``: a JSON-able mapping (``env_id``, ``quality``, ``source``,
``policy``, ``seed``, ``action_low``, ``action_high``, ...).

Files:

- ``.npz`` (numpy): the arrays under their keys and ``metadata`` as a JSON string;
  what ``dexsafe dataset from-bag`` writes.
- ``.hdf5`` / ``.h5`` (needs ``h5py``, ``requirements/offline.txt``): D4RL's HDF5
  layout, the arrays as top-level datasets and the metadata as JSON in the
  file attribute ``metadata``. This is the layout D4RL and most offline-RL code
  read; it is *not* a Minari dataset (Minari stores per-episode groups and
  needs the ``minari`` package, which is not installed here).

When ``next_observations`` is missing (raw D4RL, rosbag exports), it is taken
as ``observations[t+1]``; rows whose successor is not in the same episode
(``timeouts[t]`` or the last row, without ``terminals[t]``) are dropped by
:meth:`OfflineDataset.with_next_observations`, exactly as D4RL's
``qlearning_dataset`` does.

Building datasets from simulation: :func:`collect` rolls out any policy
(``obs -> action`` callable, ``None`` for uniform random actions) with optional
Gaussian action noise; :func:`build_dataset` names the D4RL-style qualities
``random``, ``medium``, ``expert``, ``medium-expert`` (concatenation) and
``mixed`` (a schedule of noise levels, a stand-in for a learner's replay);
``medium-replay`` is the replay buffer of an online training run
(:func:`dexsafe.policies.offline.training.train_behaviour_policy` returns it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "D4RL_KEYS",
    "QUALITIES",
    "DatasetError",
    "OfflineDataset",
    "build_dataset",
    "collect",
    "concatenate",
    "load_dataset",
]

D4RL_KEYS = ("observations", "actions", "rewards", "costs", "terminals", "timeouts")
OPTIONAL_KEYS = ("next_observations",)
QUALITIES = ("random", "medium", "expert", "medium-expert", "mixed")


class DatasetError(ValueError):
    """A dataset that is malformed or cannot be read/written; the message says what and where."""


@dataclass
class OfflineDataset:
    """Transitions in D4RL's layout (see the module docstring), validated on construction."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    costs: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    next_observations: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.observations = np.asarray(self.observations, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        self.rewards = np.asarray(self.rewards, dtype=np.float32).reshape(-1)
        self.costs = np.asarray(self.costs, dtype=np.float32).reshape(-1)
        self.terminals = np.asarray(self.terminals).astype(bool).reshape(-1)
        self.timeouts = np.asarray(self.timeouts).astype(bool).reshape(-1)
        if self.next_observations is not None:
            self.next_observations = np.asarray(self.next_observations, dtype=np.float32)
        self.metadata = dict(self.metadata or {})
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`DatasetError` naming the first inconsistent key."""
        if self.observations.ndim != 2:
            raise DatasetError(f"observations must be [T, obs_dim], got shape {self.observations.shape}")
        if self.actions.ndim != 2:
            raise DatasetError(f"actions must be [T, act_dim], got shape {self.actions.shape}")
        n = self.observations.shape[0]
        if n == 0:
            raise DatasetError("dataset is empty")
        for key in ("actions", "rewards", "costs", "terminals", "timeouts"):
            if getattr(self, key).shape[0] != n:
                raise DatasetError(f"{key} has {getattr(self, key).shape[0]} rows, observations has {n}")
        if self.next_observations is not None and self.next_observations.shape != self.observations.shape:
            raise DatasetError(
                f"next_observations has shape {self.next_observations.shape}, observations {self.observations.shape}"
            )
        for key in ("observations", "actions", "rewards", "costs", "next_observations"):
            arr = getattr(self, key)
            if arr is not None and not np.isfinite(arr).all():
                raise DatasetError(f"{key} contains NaN or inf")

    def __len__(self) -> int:
        return int(self.observations.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[1])

    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The env's action box from ``metadata`` (``action_low``/``action_high``), else [-1, 1]."""
        low = np.asarray(self.metadata.get("action_low", [-1.0] * self.act_dim), dtype=np.float64)
        high = np.asarray(self.metadata.get("action_high", [1.0] * self.act_dim), dtype=np.float64)
        if low.shape != (self.act_dim,) or high.shape != (self.act_dim,) or not np.all(high > low):
            raise DatasetError(f"metadata action bounds {low}..{high} do not fit act_dim {self.act_dim}")
        return low, high

    # ------------------------------------------------------------------ views
    def with_next_observations(self) -> OfflineDataset:
        """This dataset with ``next_observations`` filled (D4RL ``qlearning_dataset`` rule, see module doc)."""
        if self.next_observations is not None:
            return self
        n = len(self)
        nxt = np.empty_like(self.observations)
        nxt[:-1] = self.observations[1:]
        nxt[-1] = self.observations[-1]
        keep = self.terminals | (~self.timeouts & (np.arange(n) < n - 1))
        if not keep.any():
            raise DatasetError("no transition has a known successor (every row is a timeout or the last)")
        return OfflineDataset(self.observations[keep], self.actions[keep], self.rewards[keep], self.costs[keep],
                              self.terminals[keep], self.timeouts[keep], nxt[keep], dict(self.metadata))

    def episode_slices(self) -> list[slice]:
        """Consecutive row ranges, each ending at a terminal, a timeout or the last row."""
        ends = np.flatnonzero(self.terminals | self.timeouts).tolist()
        if not ends or ends[-1] != len(self) - 1:
            ends.append(len(self) - 1)
        out, start = [], 0
        for end in ends:
            out.append(slice(start, end + 1))
            start = end + 1
        return out

    def episode_returns(self) -> np.ndarray:
        """Undiscounted reward sum of each episode (incomplete last episode included)."""
        return np.array([float(self.rewards[s].sum()) for s in self.episode_slices()])

    def summary(self) -> dict[str, Any]:
        ret = self.episode_returns()
        return {"transitions": len(self), "episodes": len(ret), "obs_dim": self.obs_dim, "act_dim": self.act_dim,
                "return_mean": float(ret.mean()), "return_std": float(ret.std()),
                "cost_per_step": float(self.costs.mean()), "terminals": int(self.terminals.sum()),
                "timeouts": int(self.timeouts.sum())}

    def as_dict(self) -> dict[str, np.ndarray]:
        out = {k: getattr(self, k) for k in D4RL_KEYS}
        if self.next_observations is not None:
            out["next_observations"] = self.next_observations
        return out

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.npz`` or ``.hdf5``/``.h5`` (by suffix); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(_jsonable(self.metadata))
        if path.suffix == ".npz":
            np.savez_compressed(path, metadata=np.array(meta), **self.as_dict())
        elif path.suffix in (".hdf5", ".h5"):
            h5py = _h5py()
            with h5py.File(path, "w") as fh:
                for key, arr in self.as_dict().items():
                    fh.create_dataset(key, data=arr, compression="gzip")
                fh.attrs["metadata"] = meta
                fh.attrs["format"] = "d4rl"
        else:
            raise DatasetError(f"{path}: unknown dataset suffix {path.suffix!r}; use .npz, .hdf5 or .h5")
        return path


def load_dataset(path: str | os.PathLike) -> OfflineDataset:
    """Read a dataset written by :meth:`OfflineDataset.save`, ``dexsafe dataset from-bag`` or D4RL."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no dataset file at {path}")
    arrays: dict[str, np.ndarray] = {}
    meta: Any = "{}"
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            for key in (*D4RL_KEYS, *OPTIONAL_KEYS):
                if key in data.files:
                    arrays[key] = data[key]
            if "metadata" in data.files:
                meta = str(data["metadata"])
    elif path.suffix in (".hdf5", ".h5"):
        h5py = _h5py()
        with h5py.File(path, "r") as fh:
            for key in (*D4RL_KEYS, *OPTIONAL_KEYS):
                if key in fh:
                    arrays[key] = fh[key][()]
            meta = fh.attrs.get("metadata", "{}")
    else:
        raise DatasetError(f"{path}: unknown dataset suffix {path.suffix!r}; use .npz, .hdf5 or .h5")
    if "costs" not in arrays and "rewards" in arrays:
        arrays["costs"] = np.zeros_like(arrays["rewards"])  # plain D4RL has no cost channel
    missing = [k for k in D4RL_KEYS if k not in arrays]
    if missing:
        raise DatasetError(f"{path} lacks the keys {missing} (a dataset needs {list(D4RL_KEYS)})")
    try:
        metadata = json.loads(meta if isinstance(meta, str) else bytes(meta).decode())
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: metadata is not JSON: {exc}") from exc
    try:
        return OfflineDataset(**arrays, metadata=metadata)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from exc


def concatenate(datasets: list[OfflineDataset], metadata: Mapping[str, Any] | None = None) -> OfflineDataset:
    """Rows of several datasets one after the other (each must end on an episode boundary)."""
    if not datasets:
        raise DatasetError("nothing to concatenate")
    parts = [d.with_next_observations() for d in datasets]
    cat = {k: np.concatenate([getattr(d, k) for d in parts]) for k in (*D4RL_KEYS, "next_observations")}
    for d in parts[:-1]:
        if not (d.terminals[-1] or d.timeouts[-1]):
            d_last = len(d) - 1
            raise DatasetError(f"dataset of {len(d)} rows does not end an episode at row {d_last}")
    return OfflineDataset(**cat, metadata=dict(metadata or parts[0].metadata))


# ---------------------------------------------------------------------- collection
def collect(
    env: Any,
    policy: Callable[[np.ndarray], np.ndarray] | None,
    steps: int,
    noise: float = 0.0,
    seed: int = 0,
    metadata: Mapping[str, Any] | None = None,
) -> OfflineDataset:
    """Roll ``policy`` (``None``: uniform random) in ``env`` for ``steps`` transitions.

    ``env`` speaks the Safety-Gymnasium API (6-tuple ``step``). Gaussian noise of
    std ``noise`` x half the action range is added to the policy's actions, which
    are then clipped to the box. The last episode is cut with a timeout so the
    data always ends on a boundary.
    """
    if steps < 1:
        raise DatasetError(f"steps must be >= 1, got {steps}")
    rng = np.random.default_rng(seed)
    low = np.asarray(env.action_space.low, dtype=np.float64)
    high = np.asarray(env.action_space.high, dtype=np.float64)
    half = 0.5 * (high - low)
    obs_dim = int(env.observation_space.shape[0])
    act_dim = int(low.shape[0])
    buf = {
        "observations": np.empty((steps, obs_dim), np.float32),
        "next_observations": np.empty((steps, obs_dim), np.float32),
        "actions": np.empty((steps, act_dim), np.float32),
        "rewards": np.empty(steps, np.float32),
        "costs": np.empty(steps, np.float32),
        "terminals": np.zeros(steps, bool),
        "timeouts": np.zeros(steps, bool),
    }
    obs, _ = env.reset(seed=int(seed))
    for t in range(steps):
        if policy is None:
            act = rng.uniform(low, high)
        else:
            act = np.asarray(policy(np.asarray(obs)), dtype=np.float64).reshape(act_dim)
            if noise > 0:
                act = act + rng.normal(0.0, noise, act_dim) * half
        act = np.clip(act, low, high)
        nxt, reward, cost, terminated, truncated, _ = env.step(act)
        buf["observations"][t] = obs
        buf["next_observations"][t] = nxt
        buf["actions"][t] = act
        buf["rewards"][t] = reward
        buf["costs"][t] = cost
        buf["terminals"][t] = bool(terminated)
        buf["timeouts"][t] = bool(truncated) and not terminated
        obs = nxt
        if terminated or truncated:
            obs, _ = env.reset()
    if not (buf["terminals"][-1] or buf["timeouts"][-1]):
        buf["timeouts"][-1] = True
    meta = {"action_low": low.tolist(), "action_high": high.tolist(), "noise": float(noise), "seed": int(seed),
            "source": "sim", **dict(metadata or {})}
    return OfflineDataset(**buf, metadata=meta)


def build_dataset(
    env: Any,
    quality: str,
    steps: int,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    expert: Callable[[np.ndarray], np.ndarray] | None = None,
    noise: float = 0.3,
    seed: int = 0,
    env_id: str | None = None,
) -> OfflineDataset:
    """A dataset of a named quality from rollouts in ``env``.

    - ``random``: uniform actions;
    - ``medium``: ``policy`` (a partly trained or scripted one) with noise ``noise``;
    - ``expert``: ``expert`` (or ``policy``) with a tenth of that noise;
    - ``medium-expert``: half ``medium``, half ``expert`` (D4RL's concatenation);
    - ``mixed``: a quarter each of random, ``policy`` at noise 3x, 2x and 1x ``noise``
      (a stand-in for a learner's replay when no replay buffer is at hand).
    """
    meta = {"quality": quality, "env_id": env_id}
    if quality == "random":
        return collect(env, None, steps, 0.0, seed, meta)
    if policy is None and quality in ("medium", "medium-expert", "mixed"):
        raise DatasetError(f"quality {quality!r} needs a behaviour policy")
    if quality == "medium":
        return collect(env, policy, steps, noise, seed, meta)
    best = expert or policy
    if best is None:
        raise DatasetError("quality 'expert' needs an expert (or behaviour) policy")
    if quality == "expert":
        return collect(env, best, steps, noise / 10, seed, meta)
    if quality == "medium-expert":
        half = steps // 2
        return concatenate([collect(env, policy, half, noise, seed, meta),
                            collect(env, best, steps - half, noise / 10, seed + 1, meta)], meta)
    if quality == "mixed":
        q = steps // 4
        parts = [collect(env, None, q, 0.0, seed, meta)]
        for i, scale in enumerate((3.0, 2.0, 1.0)):
            n = q if i < 2 else steps - 3 * q
            parts.append(collect(env, policy, n, noise * scale, seed + 1 + i, meta))
        return concatenate(parts, meta)
    raise DatasetError(f"unknown dataset quality {quality!r}; choose from {list(QUALITIES)}")


def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise DatasetError("HDF5 datasets need h5py: pip install -r requirements/offline.txt") from exc
    return h5py


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
