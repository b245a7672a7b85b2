"""What every metric in metrics.json means: definition, which direction is better, and what to compare it with.
The entries live in glossary.yaml beside this module.

Keys are flattened metric paths (`invariances/block2/invariance/color`). In a pattern, `<name>` stands for one
path part that varies (a layer, factor, target, method, seed) and `<name...>` for one or more parts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Entry:
    pattern: str  # flattened metric path with <placeholders>
    definition: str
    better: str  # "higher", "lower", "near 1", or "neither" for settings and descriptive quantities
    reference: str  # its range between the @image and @label calibrations, its chance level, or its scale


HI, LO, NONE = "higher", "lower", "neither"


def _held_out(prefix: str, unit: str, objective: str, section: str, kept: bool = True) -> tuple[Entry, ...]:
    """The entries of training's held-out measure (iin/stages/heldout.py) under `prefix`."""
    entries = (
        Entry(f"{prefix}/train_{unit}", f"{objective} of training images (as many as held out) at the kept step, "
              "measured by train.py", LO, f"compare with heldout_{unit}: a gap means overfitting"),
        Entry(f"{prefix}/heldout_{unit}", f"{objective} of the training images held out of the INN's training "
              f"({section}) at the kept step, the lowest one measured", LO, f"near train_{unit}: the flow generalises"),
    )
    return entries + (Entry(f"{prefix}/kept_step", "the training step whose weights were kept: the one with the "
                            "lowest held-out value", NONE, "the last step: still improving when training stopped"),
                      ) * kept


def _load() -> tuple[Entry, ...]:
    """glossary.yaml's rows in order: the glossary is prose, kept as data beside this module."""
    rows = yaml.safe_load(resources.files(__package__).joinpath("glossary.yaml").read_text(encoding="utf-8"))
    return tuple(e for row in rows for e in (_held_out(**row["held_out"]) if "held_out" in row else (Entry(**row),)))


GLOSSARY: tuple[Entry, ...] = _load()


@lru_cache(maxsize=None)
def _regex(pattern: str) -> re.Pattern:
    parts = re.split(r"(<[a-z_]+(?:\.\.\.)?>)", pattern)
    body = "".join(".+" if p.endswith("...>") else "[^/]+" if p.startswith("<") else re.escape(p) for p in parts)
    return re.compile(body + r"\Z")


def matches(pattern: str, key: str) -> bool:
    """Whether the flattened metric key is an instance of the glossary pattern."""
    return _regex(pattern).match(key) is not None


def entry(key: str) -> Entry | None:
    """The glossary entry of a flattened metric key (the first pattern that matches), or None."""
    return next((e for e in GLOSSARY if matches(e.pattern, key)), None)


def anchor(pattern: str) -> str:
    """The HTML id of a pattern's glossary row."""
    return "g-" + re.sub(r"[^a-z0-9]+", "-", pattern.lower()).strip("-")
