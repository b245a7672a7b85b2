"""Section `zhang`: interpretable vs ordinary CNN, explanatory graph vs raw filters, few-shot part localisation."""
from __future__ import annotations

from typing import Any

import torch

from ..checkpoint import build_module, load_weights
from ..zhang import ZhangCNN, cnn_metrics, graph_from_state, graph_metrics, positives
from ..zhang.figures import filter_figure, graph_figure
from .context import EvalContext


def _mean(dicts: list[dict]) -> dict:
    """Element-wise mean of nested dicts of numbers with the same keys."""
    out: dict[str, Any] = {}
    for key, value in dicts[0].items():
        if isinstance(value, dict):
            out[key] = _mean([d[key] for d in dicts])
        else:
            out[key] = float(sum(d[key] for d in dicts) / len(dicts))
    return out


def _nets(ctx: EvalContext, ckpt: dict, i: int) -> dict[str, ZhangCNN]:
    """The ordinary and the interpretable CNN of the i-th seed, in eval mode."""
    path = ctx.run.checkpoint("zhang")
    return {kind: load_weights(build_module(ckpt["build"], "zhang", interpretable=kind == "icnn"), ckpt[kind][i],
                               path).eval()
            for kind in ("ordinary", "icnn")}


def _figures(ctx: EvalContext, nets: dict[str, ZhangCNN], layers) -> None:
    test, train = ctx.test, ctx.train
    filter_figure(nets, test.images[positives(test)[:6]], ctx.figures / "zhang_filters.png")
    graph_figure(nets["ordinary"], layers, train.images[positives(train)[:400]], ctx.figures / "zhang_graph.png")


def zhang_metrics(ctx: EvalContext) -> dict:
    """Means over seeds (and `per_seed`) of the filter, graph and localisation metrics; figures of the first seed."""
    ckpt = ctx.run.load("zhang")
    shots, draws = int(ctx.option("zhang_shots")), int(ctx.option("zhang_draws"))
    per_seed = []
    for i, s in enumerate(ckpt["seeds"]):
        nets = _nets(ctx, ckpt, i)
        layers = graph_from_state(ckpt["graph"][i])
        torch.manual_seed(int(s))
        metrics = {kind: cnn_metrics(net, ctx.test) for kind, net in nets.items()}
        metrics.update(graph_metrics(nets["ordinary"], layers, ctx.train, ctx.test, shots=shots, draws=draws, seed=int(s)))
        per_seed.append(metrics)
        if i == 0:
            _figures(ctx, nets, layers)
    return {**_mean(per_seed), "per_seed": {str(s): m for s, m in zip(ckpt["seeds"], per_seed)},
            "setup": {"shots": shots, "draws": draws, "seeds": list(ckpt["seeds"])}}
