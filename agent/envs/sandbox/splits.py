"""Splits: train / val / heldout, disjoint by seed, app template and instruction template.

- Seeds: each split draws from its own seed range (`SEED_BASE`), so no (family, seed) pair repeats
  across splits.
- App templates: `HELDOUT_TEMPLATES` only ever appear in the heldout split.
- Instruction templates: the last `HELDOUT_INSTRUCTION_FRACTION` of each family's paraphrases are
  heldout-only (see `agent.envs.sandbox.families`).

Every heldout task uses a held-out app template or a held-out instruction template (or both), so its
success rate measures generalisation, not recall.
"""

from __future__ import annotations

from agent.errors import TaskError

SPLITS = ("train", "val", "heldout")
SEED_BASE = {"train": 0, "val": 1_000_000_000, "heldout": 2_000_000_000}
SEED_SPAN = 1_000_000_000
HELDOUT_TEMPLATES = frozenset({"mail", "contacts", "survey", "wizard_side", "clicker"})
HELDOUT_INSTRUCTION_FRACTION = 0.25


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise TaskError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return split


def split_seed(split: str, index: int, seed: int = 0) -> int:
    """The seed of the ``index``-th item of ``split`` (distinct ranges per split)."""
    check_split(split)
    return SEED_BASE[split] + (seed * 7_919 + index) % SEED_SPAN


def split_of_seed(seed: int) -> str:
    for split in reversed(SPLITS):
        if seed >= SEED_BASE[split]:
            return split
    raise TaskError(f"negative seed {seed}")


def templates_for(split: str, names: list[str]) -> list[str]:
    """App templates a split may use: train/val never see held-out ones."""
    check_split(split)
    if split == "heldout":
        return sorted(names)
    return sorted(n for n in names if n not in HELDOUT_TEMPLATES)
