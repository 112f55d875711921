"""Episode memory in the JARVIS-1 spirit: past (instruction, scene, plan, outcome) on disk.

``EpisodeMemory(path)`` appends each ``Episode`` as one JSON line to ``path``
(``None``: in memory only) and retrieves the ``k`` most similar past episodes
by cosine similarity of ``embedding.embed_text`` of their instructions. The
planner passes successful ones to an LLM backend as examples (quoted data) and
uses failed ones, with their explanations, when re-planning.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dexsafe.planning.embedding import embed_text

OUTCOMES = ("success", "failure")


@dataclass(frozen=True)
class Episode:
    """One past attempt. ``plan`` is ``Plan.to_dict()``; ``explanation`` says why it failed (may be '')."""

    instruction: str
    scene: str
    plan: dict
    outcome: str
    explanation: str = ""
    failed_step: int | None = None
    time_s: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {OUTCOMES}")


class EpisodeMemory:
    """Append-only episode store with similarity retrieval."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.episodes: list[Episode] = []
        self._vectors: list[np.ndarray] = []
        if self.path is not None and self.path.is_file():
            for n, line in enumerate(self.path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    self._remember(Episode(**json.loads(line)))
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{self.path}:{n}: not an episode: {exc}") from None

    def __len__(self) -> int:
        return len(self.episodes)

    def _remember(self, episode: Episode) -> None:
        self.episodes.append(episode)
        self._vectors.append(embed_text(episode.instruction))

    def add(self, episode: Episode) -> None:
        """Store ``episode`` (and append it to the file, creating folders as needed)."""
        self._remember(episode)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(asdict(episode)) + "\n")

    def retrieve(self, instruction: str, scene: str | None = None, k: int = 3, outcome: str | None = "success",
                 min_similarity: float = 0.3) -> list[tuple[float, Episode]]:
        """Up to ``k`` (similarity, episode) pairs, most similar first, filtered by scene and outcome."""
        if not self.episodes:
            return []
        q = embed_text(instruction)
        sims = np.stack(self._vectors) @ q
        order = np.argsort(-sims, kind="stable")
        out: list[tuple[float, Episode]] = []
        for i in order:
            e = self.episodes[int(i)]
            if sims[i] < min_similarity:
                break
            if (scene is None or e.scene == scene) and (outcome is None or e.outcome == outcome):
                out.append((float(sims[i]), e))
                if len(out) >= k:
                    break
        return out

    def as_examples(self, instruction: str, scene: str | None = None, k: int = 3) -> list[dict]:
        """Successful similar episodes as prompt examples: ``{"instruction", "plan"}`` dicts (data)."""
        keys = ("status", "steps", "rationale")
        return [{"instruction": e.instruction, "plan": {key: e.plan.get(key) for key in keys}}
                for _, e in self.retrieve(instruction, scene, k)]
