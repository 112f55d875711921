"""The human-readable report of an evaluation: a PNG with joint trajectories,
costs and divergence over time, and an HTML page with the summary, the
failures and the figure embedded (one self-contained file)."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np

from dexsafe.evaluation.recorded_run import RecordedRun
from dexsafe.evaluation.results import Frame, Summary

MAX_JOINTS_PLOTTED = 8  # the joints that move most; all would be unreadable


def plot(run: RecordedRun, frames: list[Frame], summary: Summary, path: str | Path) -> Path:
    """Write the figure: (1) measured joint positions and recorded hand commands of the joints that
    move most, (2) recorded and replayed shield cost per tick, (3) divergence with the tolerance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    origin = run.origin_ns
    js = run.joint_states
    ax = axes[0]
    if len(js):
        t = (js.t_ns - origin) * 1e-9
        span = np.nanmax(js.values, axis=0) - np.nanmin(js.values, axis=0)
        for j in np.argsort(-span)[:MAX_JOINTS_PLOTTED]:
            (line,) = ax.plot(t, js.values[:, j], lw=1.2, label=run.joint_names[j])
            hc = run.hand_commands
            if len(hc):
                ax.plot((hc.t_ns - origin) * 1e-9, hc.values[:, j], lw=0.8, ls="--", color=line.get_color())
    ax.set_ylabel("position (rad or m)")
    ax.set_title("joint trajectories: measured (solid), shield commands as recorded (dashed)")
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    ft = np.array([f.t for f in frames])
    ax = axes[1]
    if frames:
        ax.step(ft, [f.cost_replayed for f in frames], where="post", label="replayed", lw=1.2)
        rec = [f.cost_recorded for f in frames]
        if any(math.isfinite(c) for c in rec):
            ax.step(ft, rec, where="post", label="recorded", lw=0.8, ls="--")
        bad = [f.t for f in frames if f.violations]
        if bad:
            ax.plot(bad, np.full(len(bad), 1.1), "rx", label="constraint violation")
    ax.set_ylabel("shield cost per tick")
    ax.set_ylim(-0.1, 1.25)
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[2]
    if frames:
        div = np.array([f.divergence for f in frames], dtype=float)
        shown = np.where(np.isfinite(div), div, np.nan)
        ax.plot(ft, np.maximum(shown, 1e-16), lw=1.0, label="divergence")
        inf = ft[np.isinf(div)]
        if len(inf):
            ax.plot(inf, np.full(len(inf), max(summary.tolerance, 1e-12) * 10), "r|", label="not comparable")
        ax.axhline(max(summary.tolerance, 1e-16), color="k", ls=":", label=f"tolerance {summary.tolerance:g}")
        ax.set_yscale("log")
    ax.set_ylabel("max |replayed - recorded|")
    ax.set_xlabel("time since bag start (s)")
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(summary.headline()[:140], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_html(summary: Summary, png: Path, path: str | Path) -> Path:
    path = Path(path)
    verdict = "PASS" if summary.passed else "FAIL"
    color = "#1a7f37" if summary.passed else "#cf222e"
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in vars(summary).items() if k not in ("reasons", "notes", "outcome"))
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in summary.reasons) or "<li>none</li>"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in summary.notes) or "<li>none</li>"
    img = base64.b64encode(Path(png).read_bytes()).decode()
    outcome = html.escape(str(summary.outcome)) if summary.outcome else "-"
    path.write_text(f"""<!doctype html><html><head><meta charset="utf-8"><title>dexsafe eval-bag {verdict}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}th{{text-align:left;padding-right:1em}}</style>
</head><body><h1 style="color:{color}">{verdict}: {html.escape(summary.mode)}-loop replay</h1>
<p>{html.escape(summary.bag)}</p><h2>Why</h2><ul>{reasons}</ul><h2>Notes</h2><ul>{notes}</ul>
<h2>Summary</h2><table>{rows}</table><h2>Outcome</h2><p>{outcome}</p>
<img alt="joint trajectories, costs and divergence" style="width:100%" src="data:image/png;base64,{img}">
</body></html>
""", encoding="utf-8")
    return path


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
