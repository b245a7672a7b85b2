"""Checks of a composed config, run before any stage: a bad value fails at once, naming its key, and nothing
is trained or written. Range rules are globs over dotted keys (keys a config lacks are skipped); the checks
against the data, the built model and the run directory's checkpoints are in iin.validate."""
from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any, Callable, Iterator

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from .errors import ConfigError


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def integer(lo: int, optional: bool = False) -> tuple[Callable[[Any], bool], str]:
    return ((lambda v: (optional and v is None) or (isinstance(v, int) and not isinstance(v, bool) and v >= lo)),
            f"an integer >= {lo}" + (" or null" if optional else ""))


def positive(optional: bool = False) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: (optional and v is None) or (_number(v) and v > 0)), "a number > 0" + (" or null" if optional else "")


NON_NEGATIVE = (lambda v: _number(v) and v >= 0), "a number >= 0"
UNIT_OPEN = (lambda v: _number(v) and 0 <= v < 1), "a number in [0, 1)"

RULES: list[tuple[tuple[Callable[[Any], bool], str], tuple[str, ...]]] = [  # (rule, the key globs it governs)
    (integer(0), ("*.epochs",  # 0 keeps given weights
                  "*.holdout.max_rows", "*.flow.hidden_layers")),
    (integer(1), ("*.steps", "checkpoint_every_steps", "*batch_size", "*.workers", "*.holdout.every_steps",
                  "*.flow.depth", "*.flow.width", "*.flow.embed_*", "*.flow.conv_width", "*.net.width",
                  "*.net.depth", "*.net.hidden", "*.net.z_dim", "concepts.estimate.pairs", "eval.samples",
                  "eval.chunk", "eval.invariance_images", "eval.attack_images", "eval.concept_images",
                  "eval.frechet_samples")),
    (integer(2), ("eval.population_images",
                  "data.num_classes")),  # a classifier needs two classes
    (integer(1, optional=True), ("eval.attribution.n_*",  # images, sanity images, curve steps
                                 "*.flow.conv_grid")),
    (positive(), ("*.lr", "concepts.estimate.temperature", "cache.max_gb", "cache.shard_mb")),
    (positive(optional=True), ("*.grad_clip",)),
    (NON_NEGATIVE, ("*.weight_decay", "autoencoder.beta", "concepts.noise", "eval.fgsm_eps")),
    (UNIT_OPEN, ("*.holdout.share",  # 0 holds nothing out
                 "concepts.rho")),
]
PRECISIONS = ("float32", "bfloat16", "auto")  # of the INN training forward (auto: bfloat16 where the hardware has it)
ENUMS = {"invariance.mode": ("cached", "recompute"), "cache.dtype": ("float32", "float16"),  # key globs
         "data.options.bad_images": ("stop", "skip"),
         "invariance.precision": PRECISIONS, "invariance.per_layer.*.precision": PRECISIONS}


def _flat(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _flat(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], node


def check_missing(cfg: DictConfig, skip: tuple[str, ...] = ()) -> None:
    """Raise ConfigError naming a mandatory value (`???`) the config still lacks."""
    try:
        container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except (MissingMandatoryValue, InterpolationToMissingValueError) as err:
        found = re.search(r"Missing mandatory value: ?(\S+)", str(err))
        key = found.group(1) if found else (err.full_key or "?")
        if key not in skip:
            raise ConfigError(f"{key} has no value; set it on the command line, e.g. {key}=...") from None
        return
    del container


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError listing every `key=value` that breaks a rule."""
    values = dict(_flat(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)))
    bad = [f"{key}={value!r} (must be {what})" for key, value in values.items()
           for (ok, what), patterns in RULES for pattern in patterns
           if fnmatchcase(key, pattern) and not ok(value)]
    bad += [f"{key}={value!r} (must be one of {', '.join(allowed)})" for key, value in values.items()
            for pattern, allowed in ENUMS.items() if fnmatchcase(key, pattern) and value not in allowed]
    if bad:
        raise ConfigError("bad config value(s): " + "; ".join(dict.fromkeys(bad)))
