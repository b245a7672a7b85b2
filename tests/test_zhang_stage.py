"""The zhang stage end to end in seconds: train, weights-only checkpoint, resume, evaluation keys and figures."""
from __future__ import annotations

import torch

from conftest import make_config
from iin.cli import train
from iin.evaluation import evaluate_run

TINY = ["data.options.n=64", "data.options.size=32", "zhang.seeds=[0,1]", "zhang.epochs=1",
        "zhang.graph.iterations=1", "zhang.graph.layers=[top,block2]"]


def test_zhang_stage_trains_saves_and_evaluates(tmp_path):
    cfg = make_config(["experiment=zhang_parts", f"paths.output_dir={tmp_path}", *TINY])
    run = train(cfg)
    ckpt = torch.load(run.checkpoint("zhang"), weights_only=True)
    assert ckpt["seeds"] == [0, 1] and len(ckpt["icnn"]) == 2 and len(ckpt["graph"][0]) == 2
    stamp = run.checkpoint("zhang").stat().st_mtime_ns
    train(cfg)  # resume: the existing checkpoint is kept
    assert run.checkpoint("zhang").stat().st_mtime_ns == stamp
    metrics = evaluate_run(run.root, {"zhang_draws": 2})["zhang"]
    for kind in ("ordinary", "icnn"):
        assert set(metrics[kind]) >= {"location_instability", "part_iou", "accuracy"}
    assert set(metrics["localization"]) == {"graph", "raw_filter", "ridge"}
    assert metrics["graph"]["location_instability"] >= 0 and set(metrics["per_seed"]) == {"0", "1"}
    assert (run.figures / "zhang_filters.png").is_file() and (run.figures / "zhang_graph.png").is_file()


def test_multi_category_icnn_assigns_filters_to_categories(tmp_path):
    from iin.data.parts import parts
    from iin.zhang import ZhangCNN, train_cnn

    ds = parts("train", n=48, size=32, categories=3, seed=0)
    torch.manual_seed(0)
    net = ZhangCNN(num_classes=4, interpretable=True, width=4, top_channels=6)
    assert net.filter_category.tolist() == [1, 2, 3, 1, 2, 3]
    history = train_cnn(net, ds.images, ds.labels, lambda p: torch.optim.Adam(p, lr=3e-3), epochs=1, batch_size=16,
                        lam=1.0, warmup=0.3, seed=0)
    assert "filter" in history[0] and history[0]["filter"] <= 0
