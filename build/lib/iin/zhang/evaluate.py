"""The measurements of one seed: a CNN's filters, the explanatory graph against raw filters, few-shot localisation."""
from __future__ import annotations

import torch

from ..data import FactorDataset
from ..data.parts import PARTS
from .graph import GraphLayer, infer_graph
from .metrics import (few_shot_error, location_instability, part_interpretability, ridge_localisation, triggered,
                      unit_localisation)
from .network import ZhangCNN
from .positions import peak_positions
from .train import accuracy, predict_maps


def positives(ds: FactorDataset) -> torch.Tensor:
    """Indices of the images that show an object (label > 0)."""
    return (ds.labels > 0).nonzero()[:, 0]


def cnn_metrics(net: ZhangCNN, test: FactorDataset, share: float = 0.5) -> dict[str, float]:
    """Top-layer filters on the positive test images: location instability, part interpretability, test accuracy.

    `part_iou` is the mean over filters of max_k P_fk (share of images whose top-0.5% region has IoU > 0.2
    with part k); `part_mean_iou` the mean over filters of max_k mean IoU; `filters_per_part` each filter's best k.
    """
    idx, size = positives(test), test.images.shape[-1]
    fmap = predict_maps(net, test.images[idx], ("top",))["top"]
    pos, value = peak_positions(fmap, size)
    inst = location_instability(pos, test.extras["landmarks"][idx], triggered(value, share), size)
    p_fk, part, iou = part_interpretability(fmap, test.extras["part_masks"][idx])
    coverage = {name: float((part == k).float().mean()) for k, name in enumerate(PARTS)}  # each filter's best part
    return {"location_instability": float(inst.nanmean()), "part_iou": float(p_fk.mean()),
            "part_mean_iou": float(iou.mean()), "filters_per_part": coverage,
            "accuracy": accuracy(net, test.images, test.labels)}


def unit_positions(net: ZhangCNN, layers: list[GraphLayer], images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Positions and scores of the graph nodes and the raw filters (argmax) of the mined layers, and flat features."""
    size = images.shape[-1]
    maps = predict_maps(net, images, tuple(layer.name for layer in layers))
    nodes = infer_graph(layers, maps, size)
    peaks = [peak_positions(maps[layer.name], size) for layer in layers]
    return {"graph_pos": torch.cat([nodes[layer.name][0] for layer in layers], 1),
            "graph_score": torch.cat([nodes[layer.name][1] for layer in layers], 1),
            "filter_pos": torch.cat([p for p, _ in peaks], 1), "filter_score": torch.cat([v for _, v in peaks], 1),
            "features": maps[layers[0].name].flatten(1)}  # (N, C, h, w) -> (N, C*h*w)


def graph_metrics(net: ZhangCNN, layers: list[GraphLayer], train: FactorDataset, test: FactorDataset,
                  shots: int = 3, draws: int = 10, seed: int = 0, share: float = 0.5) -> dict:
    """Location instability of graph nodes vs raw filters; few-shot part localisation error of graph, filters, ridge."""
    size = test.images.shape[-1]
    te, tr = positives(test), positives(train)[:400]
    u_te, u_tr = unit_positions(net, layers, test.images[te]), unit_positions(net, layers, train.images[tr])
    lm_te, lm_tr = test.extras["landmarks"][te], train.extras["landmarks"][tr]
    inst = {kind: float(location_instability(u_te[f"{kind}_pos"], lm_te, triggered(u_te[f"{kind}_score"], share),
                                             size).nanmean()) for kind in ("graph", "filter")}
    gen = torch.Generator().manual_seed(seed)
    shot_sets = [torch.randperm(len(tr), generator=gen)[:shots] for _ in range(draws)]

    def by_units(kind: str):
        return lambda s, k: unit_localisation(u_tr[f"{kind}_pos"][s], lm_tr[s, k], u_te[f"{kind}_pos"])

    def ridge(s: torch.Tensor, k: int) -> torch.Tensor:
        return ridge_localisation(u_tr["features"][s], lm_tr[s, k], u_te["features"])

    loc = {name: few_shot_error(fn, shot_sets, lm_tr, lm_te, size)
           for name, fn in (("graph", by_units("graph")), ("raw_filter", by_units("filter")), ("ridge", ridge))}
    return {"graph": {"location_instability": inst["graph"]}, "filters": {"location_instability": inst["filter"]},
            "localization": loc}
