"""PNG of the online return of each method: mean over seeds, min-max band, pretrained start marked."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_online_returns"]

COLORS = {"so2": "tab:green", "td3bc_ft": "tab:blue", "iql_ft": "tab:purple", "naive": "tab:red"}


def plot_online_returns(runs: Mapping[str, Mapping[Any, Mapping[str, Any]]], path: str | Path, title: str = "") -> Path:
    """``runs[method][seed] = {"steps": [...], "returns": [...]}`` -> line per method (mean over
    seeds, shaded min..max across seeds) of deterministic evaluation return against online steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for method, per_seed in runs.items():
        curves = [np.asarray(r["returns"], dtype=float) for r in per_seed.values()]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        steps = np.asarray(next(iter(per_seed.values()))["steps"][:n], dtype=float)
        stack = np.stack([c[:n] for c in curves])
        color = COLORS.get(method)
        ax.plot(steps, stack.mean(0), label=f"{method} ({len(curves)} seeds)", color=color, lw=2)
        if len(curves) > 1:
            ax.fill_between(steps, stack.min(0), stack.max(0), color=color, alpha=0.15)
    ax.set_xlabel("online environment steps (0 = after offline pretraining)")
    ax.set_ylabel("evaluation return (deterministic)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
