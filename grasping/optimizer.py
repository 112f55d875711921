"""MultiGrasp's optimiser: annealed Langevin with Metropolis acceptance and contact switching
(phase A), then Adam with the contact indices frozen (phase B). Batched and seeded.

Phase A, step t of N (schedules per ``LangevinConfig``; with ``N != schedule_steps`` the
intervals scale by ``N / schedule_steps`` so a short run anneals as far as a long one):

- ``s_t = s_0 * d_s ** floor(t / every_s)``, ``T_t = T_0 * d_T ** floor(t / every_T)``;
- rescaled gradient ``g_hat``: rot6d part times ``rotation_grad_scale``; joint part divided
  by an EMA of ``|g|`` (per joint, batch mean; newest weight ``joint_ema_new``) and multiplied
  by ``base + extra * max(until * N - t, 0) / N``; with ``normalize_translation`` the
  translation part is divided by its own EMA as well (a dexsafe option);
- proposal ``q' = q + s_t eps - s_t^2 / 2 g_hat``, ``eps ~ N(0, noise_std^2)``; the corner
  logits take a plain step ``w' = w - s_t^2 / 2 dE/dw``; with probability ``switch_prob`` (one
  draw for the batch) one random contact slot per object is resampled from the pool;
- accept per sample if ``U < exp((E - E') / T_t)`` (no MALA correction, as in the code).

Phase B: Adam (``lr_q``, ``lr_w``) on ``q`` and ``w`` with ``w_dis = w_dis_refine``; with
``lr_final < 1`` (a dexsafe option) the rates decay by a cosine to ``lr_final`` times their start.
With ``reseat_every > 0`` (a dexsafe option; MultiGrasp freezes the contacts here) every that many
steps, until ``reseat_until`` of the phase, the contacts are re-seated: with ``reseat_mode: finger``
each may move to the patch of its finger nearest its object, kept per sample where that lowers the
energy (``reseat``); with ``best`` one sweep of ``best_contacts`` gives each slot in turn the patch
minimising its object's FC + distance energy (with ``exclusive_fingers``, one object per finger). At each fraction in
``reassign_at`` (a dexsafe option) every object whose contacts are on average more than
``reassign_distance`` from it gets the patches nearest it anew, on any finger
(``contact_assignment.reassigned_contacts``).
The time budget is split 80/20 between the phases (the paper's 6500/1500 is 81/19); a phase
that runs out of time stops early and says so in the result. Each phase's schedules (step size,
temperature, joint scale; learning-rate decay, re-seating, re-assignment) advance by steps or by the phase's
share of the budget, whichever is further along, so a run the budget cuts still ends annealed
instead of stopping mid-schedule at full step size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from dexsafe.grasping.config import GraspConfig
from dexsafe.grasping.contact_assignment import best_contacts, reassigned_contacts, reseat
from dexsafe.grasping.energy import GraspEnergy

PHASE_A_SHARE = 0.8


@dataclass
class OptimState:
    q: torch.Tensor  # (B, dof)
    cpi: torch.Tensor  # (B, O*K) long
    cpw: torch.Tensor  # (B, O*K, 4)

    def to(self, device: torch.device | str) -> OptimState:
        return OptimState(self.q.to(device), self.cpi.to(device), self.cpw.to(device))


@dataclass
class OptimResult:
    state: OptimState
    steps_a: int
    steps_b: int
    seconds: float
    accept_rate: float
    energy_trace: list[float] = field(default_factory=list)  # batch-mean energy every few steps
    stopped_by_budget: bool = False
    schedule_reached: dict[str, float] = field(default_factory=dict)  # phase -> share of its schedule at its last step


Progress = Callable[[str, int, int, float], None]  # (phase, step, total, mean energy)


def _schedule_step(t: int, n: int, start: float, deadline: float) -> float:
    """The step of a phase's schedules at step ``t`` of ``n``: ``t`` itself while the phase is on
    course to finish its steps before ``deadline`` (so a seed gives the same run), else the
    phase's elapsed share of its time times ``n`` (so a run its time budget cuts still ends annealed)."""
    if t == 0 or not math.isfinite(deadline):
        return float(t)
    elapsed, available = time.monotonic() - start, deadline - start
    if elapsed / t * n <= available:
        return float(t)
    return min(float(n), max(float(t), n * elapsed / max(available, 1e-9)))


def _grad(energy: GraspEnergy, st: OptimState, gen, w_dis=None):
    q = st.q.detach().requires_grad_(True)
    w = st.cpw.detach().requires_grad_(True)
    e, _ = energy.energy(q, st.cpi, w, gen, w_dis=w_dis)
    gq, gw = torch.autograd.grad(e.sum(), (q, w))
    return e.detach(), gq, gw


def langevin(energy: GraspEnergy, st: OptimState, cfg: GraspConfig, gen: torch.Generator, deadline: float,
             progress: Progress | None = None, trace: list | None = None,
             reached: dict | None = None) -> tuple[OptimState, int, float, bool]:
    """Phase A; returns (state, steps done, acceptance rate, stopped by the deadline). ``reached``
    gets the share of the schedule its last step ran at (``"langevin"``)."""
    c = cfg.langevin
    n = c.steps
    if n == 0:
        return st, 0, 0.0, False
    scale = n / c.schedule_steps
    every_s, every_t = max(1.0, c.step_every * scale), max(1.0, c.temp_every * scale)
    pool = energy.hand.num_contact_candidates
    n_obj, K = len(energy.objects), energy.k
    B = st.q.shape[0]
    dev = st.q.device  # random numbers come from the CPU generator, then move (same seed, same grasps)
    start = time.monotonic()
    e, gq, gw = _grad(energy, st, gen)
    ema_j = ema_t = None
    accepted = 0
    t = 0
    for t in range(n):
        if time.monotonic() > deadline:
            return st, t, accepted / max(1, t * B), True
        te = _schedule_step(t, n, start, deadline)
        if reached is not None:
            reached["langevin"] = (te + 1) / n
        s = c.step_size * c.step_decay ** math.floor(te / every_s)
        T = c.temperature * c.temp_decay ** math.floor(te / every_t)
        g = gq.clone()
        g[:, 3:9] *= c.rotation_grad_scale
        aj = gq[:, 9:].abs().mean(0)
        ema_j = aj if ema_j is None else (1 - c.joint_ema_new) * ema_j + c.joint_ema_new * aj
        jscale = c.joint_scale_base + c.joint_scale_extra * max(c.joint_scale_until * n - te, 0) / n
        g[:, 9:] = gq[:, 9:] / ema_j.clamp_min(1e-8) * jscale
        if c.normalize_translation:
            at = gq[:, :3].abs().mean(0)
            ema_t = at if ema_t is None else (1 - c.joint_ema_new) * ema_t + c.joint_ema_new * at
            g[:, :3] = gq[:, :3] / ema_t.clamp_min(1e-8) * jscale
        eps = c.noise_std * torch.randn(st.q.shape, generator=gen, dtype=st.q.dtype).to(dev)
        q_new = st.q + s * eps - 0.5 * s * s * g
        w_new = st.cpw - 0.5 * s * s * gw
        cpi_new = st.cpi
        if torch.rand((), generator=gen).item() < c.switch_prob:
            cpi_new = st.cpi.clone().view(B, n_obj, K)
            slot = torch.randint(0, K, (B, n_obj), generator=gen).to(dev)
            cpi_new.scatter_(2, slot[..., None], torch.randint(0, pool, (B, n_obj, 1), generator=gen).to(dev))
            cpi_new = cpi_new.view(B, n_obj * K)
        cand = OptimState(q_new, cpi_new, w_new)
        e_new, gq_new, gw_new = _grad(energy, cand, gen)
        u = torch.rand(B, generator=gen, dtype=e.dtype).to(dev)
        acc = u < torch.exp(((e - e_new) / T).clamp(max=50.0))
        accepted += int(acc.sum())
        a1, a2 = acc[:, None], acc[:, None, None]
        st = OptimState(torch.where(a1, q_new, st.q), torch.where(a1, cpi_new, st.cpi), torch.where(a2, w_new, st.cpw))
        e = torch.where(acc, e_new, e)
        gq = torch.where(a1, gq_new, gq)
        gw = torch.where(a2, gw_new, gw)
        if trace is not None and t % 10 == 0:
            trace.append(float(e.detach().mean()))
        if progress is not None:
            progress("langevin", t + 1, n, float(e.mean()))
    return st, n, accepted / max(1, n * B), False


def refine(energy: GraspEnergy, st: OptimState, cfg: GraspConfig, gen: torch.Generator, deadline: float,
           progress: Progress | None = None, trace: list | None = None,
           reached: dict | None = None) -> tuple[OptimState, int, bool]:
    """Phase B (Adam; contacts frozen, or re-seated every ``reseat_every`` steps); returns (state,
    steps done, stopped by the deadline). ``reached``: as ``langevin``'s (``"refine"``)."""
    c = cfg.refine
    q = st.q.detach().clone().requires_grad_(True)
    w = st.cpw.detach().clone().requires_grad_(True)
    cpi = st.cpi
    opt = torch.optim.Adam([{"params": [q], "lr": c.lr_q}, {"params": [w], "lr": c.lr_w}])
    base = [c.lr_q, c.lr_w]
    pending = sorted(c.reassign_at)
    start = time.monotonic()
    for t in range(c.steps):
        done = _schedule_step(t, c.steps, start, deadline) / max(1, c.steps)
        if reached is not None:
            reached["refine"] = done + 1 / max(1, c.steps)
        if c.reseat_every > 0 and t % c.reseat_every == 0 and done < c.reseat_until:
            if c.reseat_mode == "best":
                cpi, w_new, _ = best_contacts(energy, q.detach(), cpi, w.detach(), energy.cfg.w_dis_refine,
                                              c.exclusive_fingers)
            else:
                cpi, w_new, _ = reseat(energy, q.detach(), cpi, w.detach(), energy.cfg.w_dis_refine)
            with torch.no_grad():
                w.copy_(w_new)
        while pending and done >= pending[0]:
            pending.pop(0)
            cpi, w_new, _ = reassigned_contacts(energy, q.detach(), cpi, w.detach(), c.reassign_distance)
            with torch.no_grad():
                w.copy_(w_new)
        # Cosine decay from lr to lr * lr_final over the phase (lr_final = 1: constant, as MultiGrasp).
        f = c.lr_final + (1 - c.lr_final) * 0.5 * (1 + math.cos(math.pi * done))
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * f
        if time.monotonic() > deadline:
            return OptimState(q.detach(), cpi, w.detach()), t, True
        opt.zero_grad()
        e, _ = energy.energy(q, cpi, w, gen, w_dis=energy.cfg.w_dis_refine)
        e.sum().backward()
        opt.step()
        if trace is not None and t % 10 == 0:
            trace.append(float(e.detach().mean()))
        if progress is not None:
            progress("refine", t + 1, c.steps, float(e.detach().mean()))
    return OptimState(q.detach(), cpi, w.detach()), c.steps, False


def optimise(energy: GraspEnergy, st: OptimState, cfg: GraspConfig, gen: torch.Generator,
             time_budget: float = math.inf, progress: Progress | None = None) -> OptimResult:
    """Phase A then phase B within ``time_budget`` s (see the module docstring)."""
    t0 = time.monotonic()
    trace: list[float] = []
    reached: dict[str, float] = {}
    st, na, acc, cut_a = langevin(energy, st, cfg, gen, t0 + PHASE_A_SHARE * time_budget, progress, trace, reached)
    st, nb, cut_b = refine(energy, st, cfg, gen, t0 + time_budget, progress, trace, reached)
    return OptimResult(st, na, nb, time.monotonic() - t0, acc, trace, cut_a or cut_b,
                       {k: min(1.0, v) for k, v in reached.items()})
