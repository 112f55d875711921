"""Safe RLHF's two preference models, small and in torch: a reward model and a cost model.

Both map ``PlanFeaturizer.plan_features(instruction, plan)`` to one number
with a two-layer MLP.

- Reward (helpfulness), Bradley-Terry: ``L_R = -log sigmoid(r(better) - r(worse))``.
- Cost (harm), pairwise plus sign terms (Safe RLHF eq. for the cost model):
  ``L_C = -log sigmoid(c(unsafer) - c(safer)) - log sigmoid(s * c(x))`` with
  ``s = +1`` for an unsafe plan and ``-1`` for a safe one, so cost > 0 means
  unsafe and cost < 0 safe (the sign is tested).

``LearnedScorer`` loads ``reward.pt`` and ``cost.pt`` (written by
``dexsafe.planning.training``) and scores plans like ``SymbolicScorer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dexsafe.planning.features import PlanFeaturizer
from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.schema import Plan
from dexsafe.planning.scoring import Scores

FEATURE_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parent / "models"


class ScoreNet(nn.Module):
    """MLP ``in_dim -> hidden -> hidden -> 1`` (a scalar score per feature row)."""

    def __init__(self, in_dim: int, hidden: int = 32):
        super().__init__()
        self.in_dim, self.hidden = in_dim, hidden
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def bradley_terry_loss(better: torch.Tensor, worse: torch.Tensor) -> torch.Tensor:
    """``mean(-log sigmoid(better - worse))``."""
    return nn.functional.softplus(-(better - worse)).mean()


def cost_loss(unsafer: torch.Tensor, safer: torch.Tensor, costs: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """Safe RLHF cost loss: pairwise term plus ``-log sigmoid(sign * cost)`` (sign +1 unsafe, -1 safe)."""
    pair = nn.functional.softplus(-(unsafer - safer)).mean() if len(unsafer) else costs.new_zeros(())
    return pair + nn.functional.softplus(-(signs * costs)).mean()


@dataclass
class TrainStats:
    """Held-out metrics of one model (fractions in [0, 1])."""

    train_pairs: int
    test_pairs: int
    pair_accuracy: float
    sign_accuracy: float | None = None
    auroc: float | None = None
    seconds: float = 0.0


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 = positive); NaN if one class."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def fit(model: nn.Module, loss_fn, epochs: int = 200, lr: float = 5e-3, weight_decay: float = 1e-4) -> None:
    """Full-batch Adam on ``loss_fn(model)`` (one thread: the nets are tiny)."""
    torch.set_num_threads(1)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(model)
        loss.backward()
        opt.step()


def save_model(model: ScoreNet, path: Path, metrics: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "in_dim": model.in_dim, "hidden": model.hidden,
                "feature_version": FEATURE_VERSION, "metrics": metrics}, path)


def load_model(path: Path, in_dim: int) -> tuple[ScoreNet, dict]:
    """Load a ``ScoreNet``; ``FileNotFoundError`` if missing, ``ValueError`` if built for other features."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} (run `dexsafe plan train`)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("feature_version") != FEATURE_VERSION or blob.get("in_dim") != in_dim:
        raise ValueError(f"{path} was trained for feature version {blob.get('feature_version')} / dim "
                         f"{blob.get('in_dim')}, this code has {FEATURE_VERSION} / {in_dim}; retrain")
    model = ScoreNet(blob["in_dim"], blob["hidden"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, blob.get("metrics", {})


class LearnedScorer:
    """Reward and cost from the trained models (``reward.pt``, ``cost.pt``)."""

    name = "learned"

    def __init__(self, featurizer: PlanFeaturizer, reward: ScoreNet, cost: ScoreNet, metrics: dict | None = None):
        self.featurizer = featurizer
        self.reward_model = reward
        self.cost_model = cost
        self.metrics = metrics or {}

    @classmethod
    def load(cls, scene, limits: PlanningLimits | None = None, models_dir: Path | None = None) -> LearnedScorer:
        models_dir = Path(models_dir) if models_dir else MODELS_DIR
        feat = PlanFeaturizer(scene, limits)
        reward, rm = load_model(models_dir / "reward.pt", feat.plan_dim)
        cost, cm = load_model(models_dir / "cost.pt", feat.plan_dim)
        return cls(feat, reward, cost, {"reward": rm, "cost": cm})

    def score(self, instruction: str, plan: Plan) -> Scores:
        x = torch.from_numpy(self.featurizer.plan_features(instruction, plan))[None]
        with torch.no_grad():
            return Scores(round(float(self.reward_model(x)[0]), 4), round(float(self.cost_model(x)[0]), 4))
