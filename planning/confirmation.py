"""The confirmation gate and plan seals.

A validated plan is *sealed*: an HMAC (SHA-256) of its canonical JSON goes into
``provenance["seal"]``. The key is random per process unless the environment
variable ``DEXSAFE_PLAN_SEAL_KEY`` (hex, at least 16 bytes) gives one: set it
for every node of a graph so that a plan sealed by the ``planner`` verifies in
the ``mission`` node. ``ConfirmationGate.may_execute``
accepts only plans whose seal matches (so nothing changed after validation) and
that are ``ok``, or ``needs_confirmation`` and confirmed by ``confirm(plan_id)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import replace

from dexsafe.planning.schema import Plan, PlanStatus

SEAL_KEY_ENV = "DEXSAFE_PLAN_SEAL_KEY"


def _load_key() -> bytes:
    text = os.environ.get(SEAL_KEY_ENV, "")
    if not text:
        return os.urandom(32)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{SEAL_KEY_ENV} must be hex") from None
    if len(key) < 16:
        raise ValueError(f"{SEAL_KEY_ENV} must hold at least 16 bytes (32 hex digits)")
    return key


_KEY = _load_key()


def _canonical(plan: Plan) -> bytes:
    d = plan.to_dict()
    d["provenance"] = {k: v for k, v in d["provenance"].items() if k != "seal"}
    body = {k: d[k] for k in ("schema_version", "plan_id", "status", "steps")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def seal(plan: Plan) -> Plan:
    """``plan`` with ``provenance['seal']`` set; call only on plans that passed the validator."""
    digest = hmac.new(_KEY, _canonical(plan), hashlib.sha256).hexdigest()
    return replace(plan, provenance={**plan.provenance, "seal": digest})


def seal_ok(plan: Plan) -> bool:
    """True if ``plan`` carries this process's seal for its current content."""
    got = plan.provenance.get("seal")
    want = hmac.new(_KEY, _canonical(plan), hashlib.sha256).hexdigest()
    return isinstance(got, str) and hmac.compare_digest(got, want)


class ConfirmationGate:
    """Holds plans awaiting a person's confirmation; thread-safe (service callbacks)."""

    def __init__(self):
        self._pending: dict[str, Plan] = {}
        self._confirmed: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, plan: Plan) -> None:
        """Register a sealed plan that needs confirmation."""
        if plan.status == PlanStatus.NEEDS_CONFIRMATION:
            with self._lock:
                self._pending[plan.plan_id] = plan

    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._pending)

    def confirm(self, plan_id: str) -> Plan:
        """Confirm a pending plan; ``KeyError`` if there is none with that id."""
        with self._lock:
            if plan_id not in self._pending:
                raise KeyError(f"no plan {plan_id!r} awaits confirmation; pending: {sorted(self._pending)}")
            self._confirmed.add(plan_id)
            return self._pending.pop(plan_id)

    def may_execute(self, plan: Plan) -> bool:
        """Sealed, and ``ok`` or confirmed."""
        if not seal_ok(plan):
            return False
        if plan.status == PlanStatus.OK:
            return True
        with self._lock:
            return plan.status == PlanStatus.NEEDS_CONFIRMATION and plan.plan_id in self._confirmed
