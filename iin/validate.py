"""Everything a train or evaluate command can check before it writes or trains anything: config values, stage
names, the data (root, class count, size against batch sizes, factor names), layer names against the built
(untrained) model, and the settings stored with the run directory's stages. Each failure is one UserError line."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from .checkpoint import load_state, plain
from .config_check import check_config, check_missing
from .errors import CheckpointError, ConfigError, LayerError
from .run import STAGE_SECTIONS, Run, stage_config
from .targets import concept_stage, invariance_stage, is_layer

IGNORED_KEYS = {"workers", "layers", "targets", "unsupervised", "per_layer"}  # which stages run, how many processes
PER_LAYER_FIXED = ("layers", "per_layer", "workers")  # the section's, not a layer's


def check_run_dir(run_dir: Any, command: str) -> Path:
    if run_dir is None or str(run_dir).strip() == "":
        raise ConfigError(f"{command} needs run_dir=<a run directory>")
    path = Path(str(run_dir)).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run_dir={path} is a file, not a directory; choose another run_dir")
    return path


def stage_names(cfg: DictConfig) -> list[str]:
    """The checkpoint names `cfg.stages` produce: invariances/<layer>, concepts/<target>[@unsupervised], ..."""
    names = []
    for stage in cfg.stages:
        if stage == "invariances":
            names += [invariance_stage(layer) for layer in cfg.invariance.layers]
        elif stage == "concepts":
            names += [concept_stage(t) for t in cfg.concepts.targets]
            names += [concept_stage(t, unsupervised=True) for t in cfg.concepts.get("unsupervised") or []]
        else:
            names.append(stage)
    return names


def stage_settings(cfg: DictConfig, stage: str) -> dict:
    """The settings a stage is trained with (its config section and the data), as stored in its checkpoint."""
    section, cfg = STAGE_SECTIONS.get(stage.split("/")[0]), stage_config(cfg, stage)
    unused = {"num_workers"} | ({"batch_size"} if section in ("invariance", "concepts") else set())  # own batches
    out = {"data": {k: v for k, v in plain(cfg.data).items() if k not in unused}}
    if section and section in cfg:
        out[section] = {k: v for k, v in plain(cfg[section]).items() if k not in IGNORED_KEYS}
    return out


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        return {k: v for key, sub in node.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def _one_cycle(lr: float, weight_decay: float, warmup: float) -> dict:
    return {"optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": lr, "weight_decay": weight_decay,
                          "fused": True},
            "scheduler": {"_target_": "torch.optim.lr_scheduler.OneCycleLR", "_partial_": True, "max_lr": lr,
                          "pct_start": warmup}}


def _with_recipe(stored: dict) -> dict:
    """Settings stored before optimisers were configs, completed with the recipe the code applied then, so that
    an unchanged run is still recognised as unchanged."""
    out = dict(stored)
    for name, section in stored.items():
        if not isinstance(section, dict) or "lr" not in section or "optimizer" in section:
            continue
        section, lr = dict(section), section["lr"]
        if name in ("classifier", "oracle"):
            section.update(_one_cycle(lr, section.pop("weight_decay", 1e-4), 0.3))
        elif name in ("invariance", "concepts"):
            section.update(_one_cycle(lr, 1e-5, 0.1))
        elif name == "autoencoder":
            section.update(optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": lr, "fused": True},
                           scheduler=None, disc_optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": lr,
                                                           "betas": [0.5, 0.9]})
        out[name] = section
    return out


def _stored_settings(run: Run, stage: str) -> dict | None:
    stored = None
    last = run.lightning_dir(stage) / "last.ckpt"
    if run.has(stage):
        stored = load_state(run.checkpoint(stage)).get("config")
    elif last.is_file():
        try:
            stored = (torch.load(last, map_location="cpu", weights_only=True, mmap=True).get("iin") or {}).get("config")
        except Exception:  # unreadable: fit sets it aside and restarts the stage
            return None
    return _with_recipe(stored) if stored else None


def check_stage_settings(cfg: DictConfig, run: Run) -> None:
    """A finished (or interrupted) stage trained with other settings refuses to be skipped or resumed."""
    if cfg.get("force", False) or not run.root.is_dir():
        return
    differ = []
    for stage in stage_names(cfg):
        stored = _stored_settings(run, stage)
        if not stored:
            continue  # older checkpoints carry no settings
        old, new = _flat(stored), _flat(stage_settings(cfg, stage))
        keys = [k for k in dict.fromkeys([*new, *old]) if old.get(k) != new.get(k)]
        if keys:
            shown = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:4])
            differ.append(f"{stage} ({shown}{', ...' if len(keys) > 4 else ''})")
    if differ:
        raise ConfigError(f"run_dir {run.root} holds stage(s) trained with other settings: {'; '.join(differ)}; "
                          f"rerun with force=true to retrain them, or choose another run_dir")


DOWNSTREAM = {"classifier": ("invariances", "concepts"), "autoencoder": ("invariances", "concepts")}


def check_force_downstream(cfg: DictConfig, run: Run) -> None:
    """force=true on the classifier or autoencoder would leave the INNs trained on the old one: they must be
    retrained in the same command (or the run started afresh)."""
    if not cfg.get("force", False) or not run.root.is_dir():
        return
    for stage in [s for s in cfg.stages if s in DOWNSTREAM]:
        stale = [p.relative_to(run.root).with_suffix("").as_posix() for d in DOWNSTREAM[stage] if d not in cfg.stages
                 for p in sorted((run.root / d).glob("*.pt"))]
        if stale:
            raise ConfigError(f"force=true retrains {stage}, but {', '.join(stale[:4])} in {run.root} were trained on "
                              f"the old one; add their stages (stages=[{','.join(dict.fromkeys([*cfg.stages, *DOWNSTREAM[stage]]))}]) "
                              f"or use a new run_dir")


def check_data(cfg: DictConfig):
    """The training split: it exists, its labels fit data.num_classes, it fills an INN batch, it has the factors."""
    from .data import dataset_from_config

    data = dataset_from_config(cfg.data, "train")
    if {"classifier", "oracle", "autoencoder"} & set(cfg.stages):
        dataset_from_config(cfg.data, "test")  # their validation reads it: an unreadable file must fail now
    n, name = len(data), cfg.data.name
    found = int(data.labels.max()) + 1
    if found > cfg.data.num_classes:
        raise ConfigError(f"data.num_classes={cfg.data.num_classes} but the training labels of data {name} have "
                          f"{found} classes (class folders); set data.num_classes={found}")
    if "invariances" in cfg.stages and n < cfg.invariance.batch_size:
        raise ConfigError(f"invariance.batch_size={cfg.invariance.batch_size} is larger than the {n} training "
                          f"examples of data {name}, so the cINNs would get no batch; set invariance.batch_size <= {n}")
    if "concepts" in cfg.stages:
        unknown = [f for f in cfg.concepts.factors if f not in data.factors]
        if unknown:
            raise ConfigError(f"concepts.factors: unknown factor(s) {unknown}; data {name} has {sorted(data.factors)}")
    return data


def _layer_names(cfg: DictConfig) -> list[tuple[str, str]]:
    """(config key, layer name) of every model layer the stages will tap."""
    names = []
    if "invariances" in cfg.stages:
        names += [("invariance.layers", n) for n in cfg.invariance.layers]
    if "concepts" in cfg.stages:
        names += [("concepts.targets", n) for n in [*cfg.concepts.targets, *(cfg.concepts.get("unsupervised") or [])]]
    return [(k, str(n)) for k, n in names if is_layer(str(n))]


def check_per_layer(cfg: DictConfig) -> None:
    """invariance.per_layer names layers of invariance.layers, and sets keys the section has."""
    section = cfg.get("invariance")
    per_layer = (section.get("per_layer") if section is not None else None) or {}
    for layer, own in per_layer.items():
        if layer not in section.layers:
            raise ConfigError(f"invariance.per_layer.{layer}: {layer!r} is not one of invariance.layers "
                              f"{list(section.layers)}")
        flat_own, flat_section = _flat(plain(own) or {}), _flat(plain(section))
        for key in flat_own:
            if key.split(".")[0] in PER_LAYER_FIXED or key not in flat_section:
                raise ConfigError(f"invariance.per_layer.{layer}.{key}: not a setting one layer can change; "
                                  f"use a key of the invariance section other than {', '.join(PER_LAYER_FIXED)}")


def check_layers(cfg: DictConfig, data) -> None:
    """Build the backbone (untrained) and check channels and every layer name; a plain name must give a tensor."""
    from .backbones import FeatureExtractor, build_backbone, input_channels, resolve_layer

    names = _layer_names(cfg)
    if not names and "classifier" not in cfg.stages:
        return
    net = build_backbone(cfg.classifier.net)
    image = data[0]["image"][None]  # (1, C, H, W)
    expected = input_channels(net)
    if expected is not None and expected != image.shape[1]:
        backbone = cfg.classifier.net.get("name", cfg.classifier.net.get("_target_"))
        raise ConfigError(f"data {cfg.data.name}: the images have {image.shape[1]} channel(s) but the backbone "
                          f"{backbone} expects {expected}; choose matching data (data.channels) or backbone.in_channels")
    for key, name in names:
        try:
            resolve_layer(net, re.split(r"[:#]", name)[0])  # the module part: a clear list of the valid names
            with torch.no_grad():
                FeatureExtractor(net, [name])(image)  # the tapped value: element selectors and token reductions
        except LayerError as err:
            raise type(err)(f"{key}: {err}") from None


def validate_train(cfg: DictConfig) -> None:
    """Every check of a train command, cheapest first; raises a UserError, writes nothing."""
    from .stages import STAGES

    check_run_dir(cfg.get("run_dir"), "train.py")
    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"stages: unknown stage(s) {unknown}; available: {list(STAGES)}")
    check_missing(cfg)
    check_config(cfg)
    check_per_layer(cfg)
    data = check_data(cfg)
    check_layers(cfg, data)
    check_stage_settings(cfg, Run(cfg.run_dir))
    check_force_downstream(cfg, Run(cfg.run_dir))


def check_upstream(run: Run) -> None:
    """Every INN was trained on the classifier and autoencoder now in the run (when its checkpoint says which)."""
    from .features import file_digest

    digests: dict[str, str] = {}
    for path in sorted([*run.root.glob("invariances/*.pt"), *run.root.glob("concepts/*.pt")]):
        stage = path.relative_to(run.root).with_suffix("").as_posix()
        for up, digest in (load_state(path).get("upstream") or {}).items():
            if up not in digests:
                if run.has(up):
                    load_state(run.checkpoint(up))  # a corrupt upstream checkpoint says so first
                digests[up] = file_digest(run.checkpoint(up)) if run.has(up) else ""
            if digests[up] and digests[up] != digest:
                raise CheckpointError(f"{path} was trained on another {run.checkpoint(up).name} than the one in "
                                      f"{run.root}; retrain it (iin-train run_dir={run.root} force=true "
                                      f"stages=[{stage.split('/')[0]}]) or restore that {up}.pt")


def validate_evaluate(cfg: DictConfig) -> Path:
    """run_dir is given and is a run directory; the eval values are in range."""
    if OmegaConf.is_missing(cfg, "run_dir"):
        raise ConfigError("evaluate.py needs run_dir=<a run directory>")
    path = check_run_dir(cfg.run_dir, "evaluate.py")
    if not (path / "config.yaml").is_file():
        raise ConfigError(f"run_dir={path} is not a run directory (no config.yaml); train first: "
                          f"iin-train experiment=<name> run_dir={path}")
    Run(path).config  # a readable config.yaml
    check_upstream(Run(path))
    check_missing(cfg)
    check_config(cfg)
    return path
