"""Seconds as a ROS time stamp (``builtin_interfaces/Time``'s two fields)."""

from __future__ import annotations


def sec_nanosec(t: float) -> tuple[int, int]:
    """``t`` s -> (sec, nanosec) with 0 <= nanosec < 1e9, rounded to the nearest ns.

    Rounding the whole value first matters: 5.9999999996 s is (6, 0), not (5, 0).
    """
    return divmod(int(round(t * 1e9)), 1_000_000_000)
