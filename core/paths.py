"""Where dexsafe's data files live: ``config/``, ``urdf/``, ``launch/``.

Installed by colcon they sit in the package's share directory
(``<prefix>/share/dexsafe``); in a source checkout or a ``pip install -e`` they
sit at the repository root. ``share_dir()`` finds whichever exists, so library
code never hard-codes either.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

PACKAGE = "dexsafe"


def _candidates() -> list[Path]:
    out: list[Path] = []
    env = os.environ.get("DEXSAFE_SHARE_DIR")
    if env:
        out.append(Path(env))
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            out.append(Path(prefix) / "share" / PACKAGE)
    out.append(Path(sys.prefix) / "share" / PACKAGE)
    # Source checkout: this file is <root>/core/paths.py (possibly via a symlink).
    out.append(Path(__file__).resolve().parent.parent)
    return out


@functools.lru_cache(maxsize=1)
def share_dir() -> Path:
    """The folder holding ``config/``, ``urdf/`` and ``launch/``."""
    for cand in _candidates():
        if (cand / "config").is_dir():
            return cand
    raise FileNotFoundError(
        "dexsafe data files not found; set DEXSAFE_SHARE_DIR to the folder holding config/ "
        f"(looked in: {', '.join(str(c) for c in _candidates())})"
    )


def config_path(*parts: str) -> Path:
    """A path under ``config/``, e.g. ``config_path('scenes', 'two_blocks.yaml')``."""
    return share_dir().joinpath("config", *parts)


def resolve_data_file(name: str | os.PathLike, kind: str, suffix: str = ".yaml") -> Path:
    """Resolve a user-given file: an existing path, or a bare name under ``config/<kind>/``.

    ``resolve_data_file('two_blocks', 'scenes')`` -> ``config/scenes/two_blocks.yaml``.
    Raises ``FileNotFoundError`` naming what was tried.
    """
    path = Path(name).expanduser()
    if path.is_file():
        return path.resolve()
    tried = [path]
    stem = path.name if path.suffix else path.name + suffix
    cand = config_path(kind, stem)
    tried.append(cand)
    if cand.is_file():
        return cand
    raise FileNotFoundError(f"no {kind} file {str(name)!r} (tried: {', '.join(map(str, tried))})")
