"""Stage `concepts`: a DisentanglingINN per target (autoencoder latent or model layer), trained on pairs."""
from __future__ import annotations

from itertools import islice

import torch
from omegaconf import DictConfig

from ..batches import batch_loader, holdout_rows
from ..checkpoint import build_module, plain
from ..concepts import TargetCodes, estimate_factor_dims, pair_batches, single_batches
from ..data import PairSampler, dataset_from_config
from ..flows import RESIDUAL
from ..lit import ConceptModule
from ..run import Run
from ..targets import concept_stage, is_layer
from .common import fit, recipe, run_jobs, seed, should_skip
from .heldout import HeldOut, mean_measure, measured_rows
from .invariances import feature_cache


def target_codes(cfg: DictConfig, run: Run, target: str, split: str, dataset) -> TargetCodes:
    layers = [target] if is_layer(target) else []
    return TargetCodes(feature_cache(cfg, run).get(split, layers, dataset), target)


def _factor_dims(section: DictConfig, codes: TargetCodes, sampler: PairSampler, constant: list[int]) -> tuple[dict, dict]:
    """Given or estimated dimensions per factor; they share the units that vary."""
    given = (section.get("factor_dims") or {}).get(codes.target)
    if given:
        return dict(given), {}
    est = section.estimate
    varies = torch.ones(codes.dim, dtype=torch.bool)
    varies[constant] = False
    return estimate_factor_dims(codes, sampler, varies.nonzero().flatten(), est.residual_score, est.temperature,
                                est.pairs)


def train_target(cfg: DictConfig, run: Run, target: str, unsupervised: bool) -> None:
    """One target's DisentanglingINN (or its pair-free IIN when `unsupervised`), trained on all cached rows but a
    held-out share (`concepts.holdout`)."""
    section = cfg.concepts
    dataset = dataset_from_config(cfg.data, "train")
    all_codes = target_codes(cfg, run, target, "train", dataset)
    train_rows, held = holdout_rows(len(all_codes), section.holdout.share, section.holdout.max_rows, section.seed)
    codes, name = all_codes.subset(train_rows), concept_stage(all_codes.target, unsupervised)
    sampler = _pairs(section, dataset, train_rows)
    seed(section.seed)
    constant = codes.constant_units()
    dims, scores = (({RESIDUAL: codes.dim - len(constant)}, {}) if unsupervised
                    else _factor_dims(section, codes, sampler, constant))
    build = {"_target_": "iin.flows.DisentanglingINN", "dim": codes.dim, "factor_dims": dims,
             "constant_units": constant, **plain(section.flow)}
    dinn = build_module(build)
    dinn.norm.set(*codes.moments())
    module = ConceptModule(dinn, rho=section.rho, symmetric=section.symmetric, noise=section.noise, **recipe(section))
    holdout = _held_out(section, run, name, dataset, all_codes, (train_rows, held), module, unsupervised)
    trainer = fit(cfg, run, name, module, max_steps=section.steps, val=False, grad_clip=section.get("grad_clip"),
                  callbacks=(holdout,) if holdout else (),
                  train_dataloaders=batch_loader(_batches(section, codes, sampler, unsupervised, section.seed)))
    kept = holdout.restore_best(trainer, module) if holdout else None
    run.save_module(name, dinn, build=build, target=codes.target, factor_scores=scores, factors=list(section.factors),
                    holdout=kept)


def _pairs(section: DictConfig, dataset, rows: torch.Tensor) -> PairSampler:
    """Pairs among `rows` only (indices into rows)."""
    return PairSampler({f: v[rows] for f, v in dataset.factors.items()}, list(section.factors), seed=section.seed)


def _batches(section: DictConfig, codes: TargetCodes, sampler: PairSampler, unsupervised: bool, seed_value: int):
    return (single_batches(codes, section.batch_size, seed_value) if unsupervised
            else pair_batches(codes, sampler, section.batch_size, seed_value))


def _held_out(section: DictConfig, run: Run, name: str, dataset, codes: TargetCodes,
              split: tuple[torch.Tensor, torch.Tensor], module: ConceptModule, unsupervised: bool) -> HeldOut | None:
    """The callback that measures the training objective on pairs (or codes) of the held-out rows, and on as many
    of the training rows (None when `concepts.holdout.share` holds none out)."""
    train_rows, held = split
    if not len(held):
        return None
    sets = measured_rows(train_rows, held, section.seed)
    n_batches = -(-len(held) // section.batch_size)

    def batches(which: str):
        rows = sets[which]
        drawn = _batches(section, codes.subset(rows), _pairs(section, dataset, rows), unsupervised, section.seed)
        return islice(iter(drawn), n_batches)

    measure = mean_measure(batches, module.objective, section.seed)
    return HeldOut(measure, section.holdout.every_steps, section.steps, run.lightning_dir(name) / "best.pt",
                   name="nll_bpd" if unsupervised else "factor_loss")


def train_concepts(cfg: DictConfig, run: Run) -> None:
    section = cfg.concepts
    jobs = [(t, False) for t in section.targets] + [(t, True) for t in section.get("unsupervised", [])]
    jobs = [(t, u) for t, u in jobs if not should_skip(cfg, run, concept_stage(t, u))]
    if not jobs:
        return
    layers = list(dict.fromkeys(t for t, _ in jobs if is_layer(t)))  # the posterior is always cached
    feature_cache(cfg, run).get("train", layers, dataset_from_config(cfg.data, "train"))
    run_jobs(train_target, [(cfg, run, t, u) for t, u in jobs], section.get("workers", 1))
