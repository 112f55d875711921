"""Training logs: one CSV row per epoch, TensorBoard scalars, and a PNG of reward and cost.

Cost is its own channel all the way: every row has the epoch's mean episode
reward *and* mean episode cost, and the plot draws the cost limit.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any

__all__ = ["TrainingLogger", "plot_curves", "read_progress_csv"]


class TrainingLogger:
    """Writes ``progress.csv`` and TensorBoard events under ``out_dir``.

    The CSV's columns are fixed by the first row; a later row that brings a new
    key raises (an algorithm must log the same things every epoch). TensorBoard
    is skipped with a warning when the ``tensorboard`` package is missing.
    """

    def __init__(self, out_dir: str | Path, tensorboard: bool = True, append: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.out_dir / "progress.csv"
        self._columns: list[str] | None = None
        self.rows: list[dict[str, float]] = []
        if append and self.csv_path.is_file():
            self.rows = read_progress_csv(self.csv_path)
            with open(self.csv_path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), None)
            self._columns = header or None
        elif self.csv_path.exists():
            self.csv_path.unlink()
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(log_dir=str(self.out_dir / "tensorboard"))
            except ImportError as exc:  # tensorboard not installed
                warnings.warn(f"TensorBoard logging disabled: {exc}", stacklevel=2)

    def log(self, row: dict[str, Any], step: int) -> None:
        row = {"step": int(step), **{k: float(v) for k, v in row.items() if k != "step"}}
        if self._columns is None:
            self._columns = list(row)
            with open(self.csv_path, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerow(self._columns)
        extra = sorted(set(row) - set(self._columns))
        if extra:
            raise KeyError(f"log row has keys not in the CSV header: {extra}")
        with open(self.csv_path, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, self._columns).writerow(row)
        self.rows.append(row)
        if self._writer is not None:
            for key, value in row.items():
                if key != "step" and math.isfinite(value):
                    self._writer.add_scalar(key, value, global_step=int(step))
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_progress_csv(path: str | Path) -> list[dict[str, float]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in csv.DictReader(fh)]


def plot_curves(
    rows: list[dict[str, float]],
    path: str | Path,
    cost_limit: float | None = None,
    title: str = "",
) -> Path:
    """Episode reward and episode cost against environment steps, the cost limit dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, (ax_r, ax_c) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    ax_r.plot(steps, [r.get("episode_reward", math.nan) for r in rows], color="tab:blue")
    ax_r.set_ylabel("episode reward")
    ax_r.grid(alpha=0.3)
    ax_c.plot(steps, [r.get("episode_cost", math.nan) for r in rows], color="tab:red", label="episode cost")
    if cost_limit is not None and math.isfinite(cost_limit):
        ax_c.axhline(cost_limit, color="black", linestyle="--", label=f"cost limit {cost_limit:g}")
    ax_c.set_ylabel("episode cost")
    ax_c.set_xlabel("environment steps")
    ax_c.grid(alpha=0.3)
    ax_c.legend(loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
