"""Checkpoint files on disk, shared by the on-policy and offline checkpoints: an atomic write, and a
read that checks the file's ``format`` tag and reports what is wrong with the caller's error type."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_atomic(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)
    return path


def load_tagged(path: str | os.PathLike, fmt: str, error: type[Exception]) -> dict[str, Any]:
    """Read a checkpoint (a file, or a run folder holding ``checkpoint.pt``) whose ``format`` is ``fmt``.

    Loads with ``weights_only=True``; raises ``error`` naming the file and the problem.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise error(f"no checkpoint at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds here
        raise error(f"{path} is not a readable checkpoint: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise error(f"{path} is not a {fmt} file (found {found!r})")
    return data
