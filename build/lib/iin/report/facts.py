"""Facts about a run that the numbers alone do not carry: layer order, and how many values each factor takes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from omegaconf import OmegaConf


@dataclass
class Facts:
    layers: list[str] = field(default_factory=list)  # invariance layers in network order (input -> output)
    levels: dict[str, int] = field(default_factory=dict)  # factor -> number of values K (chance is 1/K)

    def chance(self, factor: str) -> float | None:
        k = self.levels.get(factor)
        return 1.0 / k if k else None

    def chance_label(self, factor: str) -> str:
        """'1/8 = 12.5%' for a factor with 8 values, '' when unknown."""
        k = self.levels.get(factor)
        return f"1/{k} = {100 / k:.3g}%" if k else ""

    def chance_text(self) -> str:
        """'chance: color 1/8, digit 1/10' (or a general remark when the run does not say)."""
        known = [f"{f} 1/{k}" for f, k in self.levels.items()]
        return "chance: " + ", ".join(known) if known else "chance is 1/K for a factor with K values"


def facts_of(metrics: Mapping[str, Any], run_dir: Path) -> Facts:
    """Layer order from the run's config (`invariance.layers`), factor sizes from its data options and the
    oracle's label (`oracle.<label>_accuracy`)."""
    path = run_dir / "config.yaml"
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False) if path.is_file() else {}
    layers = [str(l) for l in ((cfg.get("invariance") or {}).get("layers") or [])]
    data = cfg.get("data") or {}
    levels: dict[str, int] = {}
    labels = [k.removesuffix("_accuracy") for k in (metrics.get("oracle") or {}) if k.endswith("_accuracy")]
    if labels and isinstance(data.get("num_classes"), int):
        levels[labels[0]] = data["num_classes"]
    n_colors = (data.get("options") or {}).get("n_colors")
    if isinstance(n_colors, int):
        levels["color"] = n_colors
    return Facts(layers, levels)
