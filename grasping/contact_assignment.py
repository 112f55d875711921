"""Which hand patch serves which contact slot: the nearest-patch assignment used to start the
optimiser (``init.contacts: nearest``), re-seating a contact along its finger
(``refine.reseat_every`` with ``reseat_mode: finger``) or to the patch minimising its object's
contact energy (``best_contacts``, ``reseat_mode: best``) and re-assigning an object's contacts
mid-run (``refine.reassign_at``).

A slot of object ``j`` is a candidate patch (``HandModel`` contact candidates); slots are ordered
object by object, ``K`` per object (``GraspEnergy.k``). Distances are the objects' signed distances
of the patch centres at the hand pose ``q``, m.
"""

from __future__ import annotations

import torch

from dexsafe.grasping.energy import GraspEnergy


def patch_distances(energy: GraspEnergy, q: torch.Tensor) -> list[torch.Tensor]:
    """Per object, the signed distance (B, P) of every candidate patch centre at ``q``, m."""
    hand = energy.hand
    with torch.no_grad():
        fk = hand.forward_kinematics(q)
        centres = hand.transform(fk, hand.cand_body, hand.cand_corners.mean(1))  # (B, P, 3)
        return [obj.distance(centres) for obj in energy.objects]


def nearest_contacts(energy: GraspEnergy, q: torch.Tensor, among: int = 1, generator: torch.Generator | None = None,
                     keep: torch.Tensor | None = None, current: torch.Tensor | None = None) -> torch.Tensor:
    """Contact slots (B, O*K) filled object by object, each drawn uniformly among the ``among`` patches
    nearest its object (the nearest for ``among = 1``) that lie on a link no other slot of the sample
    uses and on a finger no other slot of the same object uses: one link does not serve two
    contacts, and an object's contacts come from different fingers, so they can oppose.

    ``keep`` (B, O) bool with ``current`` (B, O*K): objects whose slots stay as they are; their links
    are taken before the others are filled. Where every patch is blocked (tiny pools), a slot takes
    its object's nearest patch.
    """
    hand, K, B = energy.hand, energy.k, q.shape[0]
    n_obj = len(energy.objects)
    body, chain = hand.cand_body, hand.finger_of_body[hand.cand_body]  # (P,), (P,)
    keep = torch.zeros(B, n_obj, dtype=torch.bool) if keep is None else keep.cpu()
    out = torch.zeros(B, n_obj * K, dtype=torch.long) if current is None else current.cpu().clone()
    dists = [d.cpu() for d in patch_distances(energy, q)]
    rows = torch.arange(B)
    used = torch.zeros(B, len(hand.bodies), dtype=torch.bool)
    for j in range(n_obj):
        for s in range(j * K, (j + 1) * K):
            used[rows[keep[:, j]], body[out[keep[:, j], s]]] = True
    for j, dist in enumerate(dists):
        fill = ~keep[:, j]
        fingers = torch.zeros(B, len(hand.bodies), dtype=torch.bool)
        for s in range(j * K, (j + 1) * K):
            blocked = used[:, body] | fingers[:, chain]  # (B, P)
            d = torch.where(blocked, torch.full_like(dist, float("inf")), dist)
            if among > 1:
                near = d.argsort(1)[:, :among]
                pick = near[rows, torch.randint(0, among, (B,), generator=generator)]
            else:
                pick = d.argmin(1)
            pick = torch.where(torch.isinf(d[rows, pick]), dist.argmin(1), pick)
            out[:, s] = torch.where(fill, pick, out[:, s])
            used[rows[fill], body[pick[fill]]] = True
            fingers[rows[fill], chain[pick[fill]]] = True
    return out.to(q.device)


def reassigned_contacts(energy: GraspEnergy, q: torch.Tensor, cpi: torch.Tensor, cpw: torch.Tensor,
                        max_distance: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every object whose contacts are on average more than ``max_distance`` m from it gets all its
    slots anew from ``nearest_contacts`` at the current pose (patch weights reset to the patch
    centre); the other objects keep theirs. Returns (cpi, cpw, reassigned (B, O) bool).

    Why: contacts are tied to their fingers in phase B (re-seating stays on the finger), so an
    object whose contacts were given to fingers that cannot reach it (the thumb split between two
    objects, a finger on the far side of the other object) keeps them centimetres away to the end.
    """
    with torch.no_grad():
        t = energy.terms(q, cpi, cpw, normal_noise=0.0)
        far = t.contact_distance_per_object > max_distance  # (B, O)
        if not bool(far.any()):
            return cpi, cpw, far
        new = nearest_contacts(energy, q, keep=~far, current=cpi)
        changed = (new != cpi)[..., None]
        return new, torch.where(changed, torch.zeros_like(cpw), cpw), far


def reseated_contacts(energy: GraspEnergy, q: torch.Tensor, cpi: torch.Tensor) -> torch.Tensor:
    """Each contact slot moved to the candidate patch nearest its object (signed distance of the patch
    centre at ``q``) among those on the same finger and on no link another slot of the sample uses.

    Why: candidate patches are small and sparse, so the patch a slot holds is often millimetres
    from where its finger actually touches the object; the penetration hinge of the touching part
    then balances the contact-distance pull and the contact never closes (a stall, not a minimum).
    """
    hand, K = energy.hand, energy.k
    body = hand.cand_body
    chain = hand.finger_of_body[body]  # (P,)
    with torch.no_grad():
        out = cpi.clone()
        for j, dist in enumerate(patch_distances(energy, q)):  # (B, P) each
            for k in range(K):
                s = j * K + k
                others = torch.cat([out[:, :s], out[:, s + 1:]], 1)
                allowed = (chain[None, :] == chain[out[:, s]][:, None]) & \
                    ~(body[None, :, None] == body[others][:, None, :]).any(-1)
                allowed[torch.arange(q.shape[0]), out[:, s]] = True  # staying put is always allowed
                out[:, s] = torch.where(allowed, dist, torch.full_like(dist, float("inf"))).argmin(1)
    return out


def reseat(energy: GraspEnergy, q: torch.Tensor, cpi: torch.Tensor, cpw: torch.Tensor,
           w_dis: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``reseated_contacts`` kept per sample where it lowers the (noise-free) energy; moved slots start
    at their patch centre. Returns (cpi, cpw, moved (B,) bool)."""
    with torch.no_grad():
        new = reseated_contacts(energy, q, cpi)
        changed = new != cpi
        w_new = torch.where(changed[..., None], torch.zeros_like(cpw), cpw)
        e_old, _ = energy.energy(q, cpi, cpw, w_dis=w_dis, normal_noise=0.0)
        e_new, _ = energy.energy(q, new, w_new, w_dis=w_dis, normal_noise=0.0)
        keep = (e_new < e_old) & changed.any(1)
        return (torch.where(keep[:, None], new, cpi), torch.where(keep[:, None, None], w_new, cpw), keep)


def best_contacts(energy: GraspEnergy, q: torch.Tensor, cpi: torch.Tensor, cpw: torch.Tensor,
                  w_dis: float | None = None,
                  exclusive_fingers: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One sweep of discrete coordinate descent over the contact slots at the hand pose ``q``: slot by
    slot, the candidate patch (centre) that minimises its object's contact energy
    ``w_fc FC_j + w_dis sum_k |phi_j(x_jk)|`` (exact normals, no noise) with the other slots fixed,
    among patches on a link no other slot uses and a finger no other slot of the object uses; a
    slot moves only where that lowers the energy below its current point's. Returns (cpi, cpw,
    moved (B, O*K) bool); moved slots start at their patch centre (which may be the centre of the
    patch they had). With ``exclusive_fingers`` (and at least as many fingers as contact slots) a
    finger serves one object: patches on fingers any other slot uses are blocked, and a slot on a
    finger shared with another slot moves to the best allowed patch whatever its energy.

    Why: the hand-object, self and table penetration terms do not depend on the contacts, so the
    choice of patches only changes these two terms and can be made exactly for all patches at once.
    Contacts chosen by distance alone (``nearest_contacts``, ``reseated_contacts``) often sit on two
    orthogonal faces of a box (FC = 1.8, a plateau for the gradient) while the fingers also touch an
    opposing face.
    """
    hand, K, cfg = energy.hand, energy.k, energy.cfg
    wd = cfg.w_dis if w_dis is None else w_dis
    B = q.shape[0]
    body, chain = hand.cand_body, hand.finger_of_body[hand.cand_body]  # (P,)
    rows = torch.arange(B, device=q.device)
    exclusive = exclusive_fingers and int(chain.unique().numel()) >= energy.num_contacts

    def cost(force, torque, dist):  # the object's w_fc FC_j + w_dis sum_k |phi_jk|
        return cfg.w_fc * torch.relu((force * force).sum(-1) + (torque * torque).sum(-1) - cfg.fc_margin) + wd * dist

    with torch.no_grad():
        fk = hand.forward_kinematics(q)
        centres = hand.transform(fk, body, hand.cand_corners.mean(1))  # (B, P, 3)
        out, w = cpi.clone(), cpw.clone()
        x_cur, _ = hand.contact_points(fk, out, w)  # (B, O*K, 3)
        moved = torch.zeros_like(out, dtype=torch.bool)
        for j, obj in enumerate(energy.objects):
            c = energy.centres[j]
            phi_p, n_p = obj.query(centres)  # (B, P), (B, P, 3)
            tau_p = torch.cross(centres - c, n_p, dim=-1)
            sl = slice(j * K, (j + 1) * K)
            phi_k, n_k = obj.query(x_cur[:, sl])  # (B, K), (B, K, 3)
            tau_k = torch.cross(x_cur[:, sl] - c, n_k, dim=-1)
            for k in range(K):
                s = j * K + k
                others = torch.cat([out[:, :s], out[:, s + 1:]], 1)
                same_obj = torch.cat([out[:, j * K:s], out[:, s + 1:(j + 1) * K]], 1)
                finger_users = others if exclusive else same_obj
                blocked = (body[None, :, None] == body[others][:, None, :]).any(-1) | \
                    (chain[None, :, None] == chain[finger_users][:, None, :]).any(-1)  # (B, P)
                force = n_k.sum(1) - n_k[:, k]  # (B, 3) without slot k
                torque = tau_k.sum(1) - tau_k[:, k]
                dist = phi_k.abs().sum(1) - phi_k[:, k].abs()
                stay = cost(force + n_k[:, k], torque + tau_k[:, k], dist + phi_k[:, k].abs())  # (B,)
                if exclusive:  # a slot sharing its finger with another leaves it for any allowed patch
                    shared = (chain[out[:, s]][:, None] == chain[others]).any(1)
                    stay = torch.where(shared, torch.full_like(stay, float("inf")), stay)
                alt = cost(force[:, None] + n_p, torque[:, None] + tau_p, dist[:, None] + phi_p.abs())  # (B, P)
                alt = torch.where(blocked, torch.full_like(alt, float("inf")), alt)
                best_cost, best = alt.min(1)
                go = best_cost < stay - 1e-9
                out[:, s] = torch.where(go, best, out[:, s])
                moved[:, s] = moved[:, s] | go
                g = go[:, None]
                n_k[:, k] = torch.where(g, n_p[rows, best], n_k[:, k])
                tau_k[:, k] = torch.where(g, tau_p[rows, best], tau_k[:, k])
                phi_k[:, k] = torch.where(go, phi_p[rows, best], phi_k[:, k])
        w = torch.where(moved[..., None], torch.zeros_like(w), w)
        return out, w, moved
