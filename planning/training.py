"""Train the reward model, the cost model and the learned corrector on generated data (CPU, seconds).

``train_all(scene="kitchen_table", out_dir=None, seed=0)`` generates the train
split (templates) and the held-out test split (disjoint templates), trains the
three models, evaluates them on the test split, writes ``reward.pt``,
``cost.pt`` and ``corrector.pt`` (with their metrics) to ``out_dir``
(default ``planning/models``) and returns the metrics. ``dexsafe plan train``
calls it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch

from dexsafe.planning.corrector import RuleCorrector
from dexsafe.planning.datasets import correction_triples, generate_instructions, preference_pairs
from dexsafe.planning.features import PlanFeaturizer
from dexsafe.planning.learned_corrector import PLAN_CLASSES, CorrectorNet, LearnedCorrector, edit_labels
from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.reward_cost import (
    FEATURE_VERSION,
    MODELS_DIR,
    ScoreNet,
    auroc,
    bradley_terry_loss,
    cost_loss,
    fit,
    save_model,
)
from dexsafe.sim.scene_spec import load_scene


def _pair_tensors(feat: PlanFeaturizer, pairs):
    """Feature tensors for the reward (better/worse) and cost (unsafer/safer, all + signs) losses."""
    rb, rw, cu, cs, xs, signs = [], [], [], [], [], []
    for p in pairs:
        f0 = feat.plan_features(p.instruction, p.plan_0)
        f1 = feat.plan_features(p.instruction, p.plan_1)
        if p.better_id is not None:
            rb.append(f0 if p.better_id == 0 else f1)
            rw.append(f1 if p.better_id == 0 else f0)
        if p.safer_id is not None:
            cs.append(f0 if p.safer_id == 0 else f1)
            cu.append(f1 if p.safer_id == 0 else f0)
        xs += [f0, f1]
        signs += [-1.0 if p.is_0_safe else 1.0, -1.0 if p.is_1_safe else 1.0]
    t = lambda rows: torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, feat.plan_dim)  # noqa: E731
    return t(rb), t(rw), t(cu), t(cs), t(xs), torch.tensor(signs)


def train_scorers(scene, limits: PlanningLimits, train_items, test_items, seed: int = 0):
    """Train reward and cost models; return them with held-out metrics."""
    torch.manual_seed(seed)
    feat = PlanFeaturizer(scene, limits)
    t0 = time.perf_counter()
    tr = _pair_tensors(feat, preference_pairs(scene, train_items, seed, limits))
    te = _pair_tensors(feat, preference_pairs(scene, test_items, seed + 1, limits))
    reward = ScoreNet(feat.plan_dim)
    fit(reward, lambda m: bradley_terry_loss(m(tr[0]), m(tr[1])))
    cost = ScoreNet(feat.plan_dim)
    fit(cost, lambda m: cost_loss(m(tr[2]), m(tr[3]), m(tr[4]), tr[5]))
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        r_acc = float((reward(te[0]) > reward(te[1])).float().mean()) if len(te[0]) else float("nan")
        c_pair = float((cost(te[2]) > cost(te[3])).float().mean()) if len(te[2]) else float("nan")
        c_all = cost(te[4])
        c_sign = float(((c_all > 0).float() * 2 - 1 == te[5]).float().mean())
        c_auc = auroc(c_all.numpy(), (te[5] > 0).numpy().astype(int))
    rm = {"train_pairs": len(tr[0]), "test_pairs": len(te[0]), "pair_accuracy": round(r_acc, 4),
          "seconds": round(seconds, 2)}
    cm = {"train_pairs": len(tr[2]), "test_pairs": len(te[2]), "pair_accuracy": round(c_pair, 4),
          "sign_accuracy": round(c_sign, 4), "auroc": round(c_auc, 4), "test_plans": len(te[4]),
          "seconds": round(seconds, 2)}
    return reward, cost, rm, cm


def _corrector_tensors(feat: PlanFeaturizer, rule: RuleCorrector, triples):
    px, sx, sidx, cls, conf, ops = [], [], [], [], [], []
    for t in triples:
        corr = rule.correct(t.question, t.answer)
        c, k, o = edit_labels(corr.edits, len(t.answer.steps), corr.plan)
        b = len(px)
        px.append(feat.plan_features(t.question, t.answer))
        rows = feat.step_features(t.answer)
        for i in range(len(rows)):
            sx.append(rows[i])
            sidx.append(b)
            ops.append(o[i])
        cls.append(c)
        conf.append(float(k))
    return (torch.from_numpy(np.stack(px)), torch.from_numpy(np.stack(sx)), torch.tensor(sidx), torch.tensor(cls),
            torch.tensor(conf), torch.tensor(ops))


def train_corrector(scene, limits: PlanningLimits, train_items, test_items, seed: int = 0):
    """Train the corrector on Q-A-C triples; held-out metrics on test-template triples."""
    torch.manual_seed(seed)
    rule = RuleCorrector(scene, limits)
    feat = PlanFeaturizer(scene, limits, rule.planner)
    t0 = time.perf_counter()
    train_triples = correction_triples(scene, train_items, seed, limits=limits)
    test_triples = correction_triples(scene, test_items, seed + 1, limits=limits)
    tr = _corrector_tensors(feat, rule, train_triples)
    model = CorrectorNet(feat.plan_dim, feat.STEP_DIM)
    ce = torch.nn.CrossEntropyLoss()
    bce = torch.nn.BCEWithLogitsLoss()

    def loss(m):
        plan_out, step_out = m(tr[0], tr[1], tr[2])
        return ce(plan_out[:, :len(PLAN_CLASSES)], tr[3]) + bce(plan_out[:, -1], tr[4]) + bce(step_out, tr[5])
    fit(model, loss, epochs=700)
    seconds = time.perf_counter() - t0
    model.eval()
    te = _corrector_tensors(feat, rule, test_triples)
    with torch.no_grad():
        plan_out, step_out = model(te[0], te[1], te[2])
        cls_acc = float((plan_out[:, :len(PLAN_CLASSES)].argmax(-1) == te[3]).float().mean())
        op_acc = float(((torch.sigmoid(step_out) > 0.5).float() == te[5]).all(-1).float().mean())
    learned = LearnedCorrector(feat, model, rule, {})
    exact = valid = identity_kept = identity_n = 0
    for t in test_triples:
        out = learned.correct_alone(t.question, t.answer).plan
        same = out.status == t.correction.status and out.steps == t.correction.steps
        exact += same
        valid += not validate_plan_ok(out, scene, limits)
        if t.fault == "identity":
            identity_n += 1
            identity_kept += out.steps == t.answer.steps and out.status == t.answer.status
    metrics = {"train_triples": len(train_triples), "test_triples": len(test_triples),
               "identity_fraction_train": round(sum(t.fault == "identity" for t in train_triples)
                                                / max(1, len(train_triples)), 3),
               "plan_class_accuracy": round(cls_acc, 4), "step_ops_exact_accuracy": round(op_acc, 4),
               "correction_exact_match": round(exact / max(1, len(test_triples)), 4),
               "valid_after_correction": round(valid / max(1, len(test_triples)), 4),
               "identity_kept": round(identity_kept / max(1, identity_n), 4), "seconds": round(seconds, 2)}
    return model, metrics


def validate_plan_ok(plan, scene, limits) -> list:
    from dexsafe.planning.validator import validate_plan
    return validate_plan(plan, scene, limits)


def train_all(scene="kitchen_table", out_dir: str | Path | None = None, seed: int = 0,
              limits: PlanningLimits | None = None, progress=print, per_template: int = 10) -> dict:
    """Train and save all three models; return ``{"reward": ..., "cost": ..., "corrector": ...}`` metrics."""
    random.seed(seed)
    scene = load_scene(scene) if isinstance(scene, str) else scene
    limits = limits or PlanningLimits()
    out = Path(out_dir) if out_dir else MODELS_DIR
    train_items = generate_instructions(scene, "train", seed, per_template, limits)
    test_items = generate_instructions(scene, "test", seed, per_template, limits)
    progress(f"[train] {len(train_items)} train / {len(test_items)} held-out instructions (disjoint templates)")
    reward, cost, rm, cm = train_scorers(scene, limits, train_items, test_items, seed)
    progress(f"[train] reward: held-out pairwise accuracy {rm['pair_accuracy']:.3f} on {rm['test_pairs']} pairs")
    progress(f"[train] cost: pairwise {cm['pair_accuracy']:.3f}, sign {cm['sign_accuracy']:.3f}, "
             f"AUROC {cm['auroc']:.3f}")
    save_model(reward, out / "reward.pt", rm)
    save_model(cost, out / "cost.pt", cm)
    model, km = train_corrector(scene, limits, train_items, test_items, seed)
    progress(f"[train] corrector: plan class {km['plan_class_accuracy']:.3f}, exact correction "
             f"{km['correction_exact_match']:.3f}, identity kept {km['identity_kept']:.3f}")
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "plan_dim": model.plan_dim, "step_dim": model.step_dim,
                "hidden": model.hidden, "feature_version": FEATURE_VERSION, "metrics": km}, out / "corrector.pt")
    return {"reward": rm, "cost": cm, "corrector": km, "out_dir": str(out)}
