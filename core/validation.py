"""Input checks shared by libraries and nodes; each raises ``InvalidInput`` with a
message a person can act on (the node puts it in the response's ``message``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


class InvalidInput(ValueError):
    """A request or argument that cannot be acted on. The message says why."""


def finite(name: str, values: float | Iterable[float]) -> list[float]:
    """Return ``values`` as a list of floats, raising if any is NaN or infinite."""
    vals = [float(values)] if isinstance(values, (int, float)) else [float(v) for v in values]
    bad = [i for i, v in enumerate(vals) if not math.isfinite(v)]
    if bad:
        raise InvalidInput(f"{name} has non-finite values at index {bad}: {[vals[i] for i in bad]}")
    return vals


def in_range(name: str, value: float, low: float, high: float, unit: str = "") -> float:
    """Return ``value`` if finite and within ``[low, high]``; raise otherwise."""
    (v,) = finite(name, value)
    if not low <= v <= high:
        u = f" {unit}" if unit else ""
        raise InvalidInput(f"{name} = {v}{u} is outside [{low}, {high}]{u}")
    return v


def length(name: str, values: Sequence, expected: int) -> Sequence:
    """Raise unless ``len(values) == expected``."""
    if len(values) != expected:
        raise InvalidInput(f"{name} has {len(values)} entries, expected {expected}")
    return values


def unit_quaternion(name: str, xyzw: Sequence[float], tol: float = 1e-3) -> list[float]:
    """Return the quaternion (x, y, z, w) normalised; raise if non-finite or far from unit norm.

    A norm within ``tol`` of 1 is renormalised; anything else (zero, NaN, a typo) is an error.
    """
    q = finite(name, xyzw)
    length(name, q, 4)
    n = math.sqrt(sum(c * c for c in q))
    if abs(n - 1.0) > tol:
        raise InvalidInput(f"{name} is not a unit quaternion (norm {n:.6g})")
    return [c / n for c in q]
