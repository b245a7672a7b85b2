"""Stage `zhang`: an ordinary and an interpretable CNN per seed, and the explanatory graph of the ordinary one."""
from __future__ import annotations

import logging
import time

from omegaconf import DictConfig

from ..checkpoint import build_module, plain, save_checkpoint
from ..data import dataset_from_config
from ..run import Run
from ..zhang import GraphOptions, mine_graph, positives, predict_maps, train_cnn
from .common import partial, seed, should_skip

log = logging.getLogger("iin")


def zhang_build(z: DictConfig) -> dict:
    """Both CNNs' build config; `interpretable` is added per kind."""
    return {"_target_": "iin.zhang.ZhangCNN", **plain(z.net)}


def train_pair(z: DictConfig, images, labels, run_seed: int) -> dict:
    """The ordinary and the interpretable CNN of one seed, trained on the same batches; state dicts and histories."""
    out = {}
    for kind in ("ordinary", "icnn"):
        seed(run_seed)
        net = build_module(zhang_build(z), interpretable=kind == "icnn")
        history = train_cnn(net, images, labels, partial(z.optimizer), epochs=z.epochs, batch_size=z.batch_size,
                            lam=z.lam, warmup=z.warmup, seed=run_seed)
        log.info("zhang seed %d %s: last epoch %s", run_seed, kind, history[-1])
        out[kind] = (net, history)
    return out


def train_zhang(cfg: DictConfig, run: Run) -> None:
    """Train both CNNs for every seed in `cfg.zhang.seeds` and mine the graph; one weights-only `zhang.pt`."""
    if should_skip(cfg, run, "zhang"):
        return
    if "zhang" not in cfg:
        raise ValueError("stage zhang needs a `zhang` config section; use experiment=zhang_parts or copy its `zhang:` block")
    z, start = cfg.zhang, time.perf_counter()
    train = dataset_from_config(cfg.data, "train")
    if "part_masks" not in train.extras:
        raise ValueError(f"stage zhang needs part annotations (data=parts); {cfg.data.name!r} has none")
    content: dict = {"build": zhang_build(z), "seeds": list(z.seeds), "ordinary": [], "icnn": [], "graph": [],
                     "history": []}
    graph_opt = {k: v for k, v in plain(z.graph).items() if k != "layers"}
    for s in z.seeds:
        pair = train_pair(z, train.images, train.labels, int(s))
        ordinary = pair["ordinary"][0]
        maps = predict_maps(ordinary, train.images[positives(train)], tuple(z.graph.layers))
        layers = mine_graph(maps, train.images.shape[-1], GraphOptions(**graph_opt, seed=int(s)))
        content["ordinary"].append(ordinary.state_dict())
        content["icnn"].append(pair["icnn"][0].state_dict())
        content["graph"].append([layer.state() for layer in layers])
        content["history"].append({kind: pair[kind][1] for kind in pair})
    save_checkpoint(run.checkpoint("zhang"), **content)
    run.record_timing("zhang", time.perf_counter() - start)
