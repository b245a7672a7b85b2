"""Stage `concepts`: a DisentanglingINN per target (autoencoder latent or model layer), trained on pairs."""
from __future__ import annotations

import torch
from omegaconf import DictConfig

from ..batches import batch_loader
from ..checkpoint import build_module, plain
from ..concepts import TargetCodes, estimate_factor_dims, pair_batches, single_batches
from ..data import PairSampler, dataset_from_config
from ..flows import RESIDUAL
from ..lit import ConceptModule
from ..run import Run
from ..targets import concept_stage, is_layer
from .common import fit, recipe, run_jobs, seed, should_skip
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
    """One target's DisentanglingINN (or its pair-free IIN when `unsupervised`)."""
    section = cfg.concepts
    dataset = dataset_from_config(cfg.data, "train")
    sampler = PairSampler(dataset.factors, list(section.factors), seed=section.seed)
    codes = target_codes(cfg, run, target, "train", dataset)
    name = concept_stage(codes.target, unsupervised)
    seed(section.seed)
    constant = codes.constant_units()
    dims, scores = (({RESIDUAL: codes.dim - len(constant)}, {}) if unsupervised
                    else _factor_dims(section, codes, sampler, constant))
    build = {"_target_": "iin.flows.DisentanglingINN", "dim": codes.dim, "factor_dims": dims,
             "constant_units": constant, **plain(section.flow)}
    dinn = build_module(build)
    dinn.norm.set(*codes.moments())
    batches = (single_batches(codes, section.batch_size, section.seed) if unsupervised
               else pair_batches(codes, sampler, section.batch_size, section.seed))
    module = ConceptModule(dinn, rho=section.rho, symmetric=section.symmetric, noise=section.noise, **recipe(section))
    fit(cfg, run, name, module, max_steps=section.steps, val=False, grad_clip=section.get("grad_clip"),
        train_dataloaders=batch_loader(batches))
    run.save_module(name, dinn, build=build, target=codes.target, factor_scores=scores, factors=list(section.factors))


def train_concepts(cfg: DictConfig, run: Run) -> None:
    section = cfg.concepts
    jobs = [(t, False) for t in section.targets] + [(t, True) for t in section.get("unsupervised", [])]
    jobs = [(t, u) for t, u in jobs if not should_skip(cfg, run, concept_stage(t, u))]
    if not jobs:
        return
    layers = list(dict.fromkeys(t for t, _ in jobs if is_layer(t)))  # the posterior is always cached
    feature_cache(cfg, run).get("train", layers, dataset_from_config(cfg.data, "train"))
    run_jobs(train_target, [(cfg, run, t, u) for t, u in jobs], section.get("workers", 1))
