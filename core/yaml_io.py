"""Safe YAML loading with libyaml's C parser when PyYAML has it (10-20x faster than the pure-Python
one on hand and scene files, which replay, the nodes and the tests load over and over)."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` semantics (plain data only), on the C loader when available."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader
