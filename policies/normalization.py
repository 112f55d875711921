"""Running mean and variance of observations (Chan et al.'s parallel update), numpy only."""

from __future__ import annotations

import numpy as np

__all__ = ["RunningMeanStd"]


class RunningMeanStd:
    """Tracks mean and variance of a stream of vectors; ``normalize`` maps to ~N(0, 1), clipped.

    Batch update with ``n_a`` old samples (mean μ_a, var σ²_a) and ``n_b`` new ones::

        δ = μ_b - μ_a,  n = n_a + n_b
        μ = μ_a + δ n_b / n
        σ² = (σ²_a n_a + σ²_b n_b + δ² n_a n_b / n) / n
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 0.0
        self.clip = float(clip)
        self.epsilon = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64).reshape(-1, *self.mean.shape)
        n_b = batch.shape[0]
        if n_b == 0:
            return
        mu_b, var_b = batch.mean(axis=0), batch.var(axis=0)
        n_a = self.count
        n = n_a + n_b
        delta = mu_b - self.mean
        self.mean = self.mean + delta * n_b / n
        self.var = (self.var * n_a + var_b * n_b + delta**2 * n_a * n_b / n) / n
        self.count = n

    def normalize(self, x: np.ndarray) -> np.ndarray:
        out = (np.asarray(x, dtype=np.float64) - self.mean) / np.sqrt(self.var + self.epsilon)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count, "clip": self.clip}

    def load_state_dict(self, state: dict) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float64).reshape(self.mean.shape)
        self.var = np.asarray(state["var"], dtype=np.float64).reshape(self.var.shape)
        self.count = float(state["count"])
        self.clip = float(state.get("clip", self.clip))
