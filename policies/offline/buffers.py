"""Replay buffers for offline-to-online learning, and SO2's mixed batches.

:class:`ReplayBuffer` is a FIFO ring of ``(s, a, r, c, s', d)`` with actions
normalised to [-1, 1]; ``d`` is the *terminal* flag (a time-limit cut is not
terminal: its target bootstraps).

SO2's replay (official code, ``concat_online_ratio``): two buffers,

- *online*: online transitions only;
- *offline*: seeded with the shuffled dataset and **also fed every online
  transition**; its capacity is the dataset size, so online data overwrite a
  random subset of the offline data (FIFO over shuffled rows).

A batch of size B holds ``round(ρ B)`` online and ``B - round(ρ B)`` offline-buffer
rows (:class:`MixedSampler`, ρ = ``online_ratio``). With ρ = 0 and a growing
offline buffer it is CORL's "append online data to the offline buffer".
"""

from __future__ import annotations

import numpy as np
import torch

from dexsafe.policies.datasets import OfflineDataset

__all__ = ["MixedSampler", "ReplayBuffer", "normalize_actions"]

FIELDS = ("observations", "actions", "rewards", "costs", "next_observations", "terminals")


def normalize_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Env-box actions -> [-1, 1]: ``2 (a - low) / (high - low) - 1``."""
    return np.clip(2.0 * (np.asarray(actions) - low) / (high - low) - 1.0, -1.0, 1.0).astype(np.float32)


class ReplayBuffer:
    """FIFO ring buffer of transitions; ``sample(n, rng)`` draws rows uniformly with replacement."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.data = {
            "observations": np.zeros((capacity, obs_dim), np.float32),
            "actions": np.zeros((capacity, act_dim), np.float32),
            "rewards": np.zeros(capacity, np.float32),
            "costs": np.zeros(capacity, np.float32),
            "next_observations": np.zeros((capacity, obs_dim), np.float32),
            "terminals": np.zeros(capacity, np.float32),
        }
        self.ptr = 0
        self.size = 0
        self.added = 0  # total rows ever added (for tests and logs)

    def __len__(self) -> int:
        return self.size

    def add(self, obs, act, reward, cost, next_obs, terminal) -> None:
        i = self.ptr
        d = self.data
        d["observations"][i] = obs
        d["actions"][i] = act
        d["rewards"][i] = reward
        d["costs"][i] = cost
        d["next_observations"][i] = next_obs
        d["terminals"][i] = float(terminal)
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.added += 1

    def add_batch(self, rows: dict[str, np.ndarray]) -> None:
        n = len(rows["rewards"])
        for start in range(0, n, self.capacity):
            chunk = {k: np.asarray(v)[start:start + self.capacity] for k, v in rows.items()}
            m = len(chunk["rewards"])
            idx = (self.ptr + np.arange(m)) % self.capacity
            for k in FIELDS:
                self.data[k][idx] = chunk[k]
            self.ptr = int((self.ptr + m) % self.capacity)
            self.size = min(self.size + m, self.capacity)
            self.added += m

    @classmethod
    def from_dataset(cls, dataset: OfflineDataset, capacity: int | None = None, shuffle_seed: int | None = 0
                     ) -> ReplayBuffer:
        """A buffer holding ``dataset`` (actions normalised, rows shuffled when ``shuffle_seed`` is set)."""
        ds = dataset.with_next_observations()
        low, high = ds.action_bounds()
        n = len(ds)
        buf = cls(capacity or n, ds.obs_dim, ds.act_dim)
        order = np.random.default_rng(shuffle_seed).permutation(n) if shuffle_seed is not None else np.arange(n)
        buf.add_batch({
            "observations": ds.observations[order],
            "actions": normalize_actions(ds.actions[order], low, high),
            "rewards": ds.rewards[order],
            "costs": ds.costs[order],
            "next_observations": ds.next_observations[order],
            "terminals": ds.terminals[order].astype(np.float32),
        })
        buf.added = 0  # count online rows only from here
        return buf

    def sample_numpy(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        if self.size == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = rng.integers(0, self.size, size=n)
        return {k: v[idx] for k, v in self.data.items()}

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v) for k, v in self.sample_numpy(n, rng).items()}


class MixedSampler:
    """Batches of ``round(online_ratio B)`` online rows + the rest from the offline buffer (see module doc)."""

    def __init__(self, offline: ReplayBuffer, online: ReplayBuffer, online_ratio: float) -> None:
        if not 0.0 <= online_ratio <= 1.0:
            raise ValueError(f"online_ratio must be in [0, 1], got {online_ratio}")
        self.offline, self.online, self.online_ratio = offline, online, float(online_ratio)

    def split(self, batch_size: int) -> tuple[int, int]:
        """``(n_online, n_offline)`` for a batch; all offline while the online buffer is empty."""
        n_on = int(round(self.online_ratio * batch_size)) if len(self.online) > 0 else 0
        return n_on, batch_size - n_on

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        n_on, n_off = self.split(batch_size)
        parts = []
        if n_off:
            parts.append(self.offline.sample_numpy(n_off, rng))
        if n_on:
            parts.append(self.online.sample_numpy(n_on, rng))
        return {k: torch.as_tensor(np.concatenate([p[k] for p in parts])) for k in parts[0]}
