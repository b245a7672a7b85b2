"""Training throughput of an InvarianceCINN: cached features versus recomputing the frozen nets every step.

python bench/cinn_throughput.py [--run-dir outputs/colormnist] [--layers block1 penultimate] [--steps 60]
python bench/cinn_throughput.py --backbone resnet18 [--size 128]   # torchvision resnet18 on shapes at 64 (or 128) px,
                                                                    # layers layer2 and avgpool
python bench/cinn_throughput.py ... --precision bfloat16            # the flow trained under bfloat16 autocast
Prints JSON per layer: samples per second in both modes (same model, same run) and their ratio.
The ratio is (flow + frozen nets) / flow: it depends on the layer (recompute mode runs the backbone up to
the layer and the encoder) and on how costly the frozen nets are next to the flow.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from iin.checkpoint import build_module, plain
from iin.cli import CONFIG_DIR
from iin.config_check import PRECISIONS
from iin.batches import CachedBatches, RecomputeBatches, StepBatches, batch_loader
from iin.data import dataset_from_config
from iin.features import Representation
from iin.stages.invariances import feature_cache
from iin.lit import InvarianceModule
from iin.run import Run


def samples_per_second(module: InvarianceModule, loader, steps: int, warmup: int) -> float:
    """Training samples per second over `steps` steps, after `warmup` untimed ones: the first steps on a new
    shape also pick kernels and grow the allocator's pools, a cost the steady state does not pay."""
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4, fused=True)  # the optimiser the stages use
    batches = iter(loader)  # endless
    seen, start = 0, time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            seen, start = 0, time.perf_counter()
        batch = next(batches)
        loss = module.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(batch["mean"])
    return seen / (time.perf_counter() - start)


# A run whose frozen nets cost what they cost at full training: throughput does not depend on the weights,
# so the classifier and autoencoder train for a couple of batches only; the flow keeps its default settings.
QUICK = ["stages=[classifier,autoencoder]", "logger=csv", "classifier.epochs=1", "autoencoder.epochs=1",
         "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "trainer.enable_progress_bar=false"]
BACKBONES = {"tiny_cnn": [], "resnet18": ["backbone=resnet18", "data=shapes", "+data.options.n=1024"]}


def ensure_run(run_dir: str | None, backbone: str | None, size: int | None = None) -> Run:
    if backbone is None and run_dir and Run(run_dir).has("autoencoder"):
        return Run(run_dir)
    from hydra import compose, initialize_config_dir
    from iin.cli import train

    out = tempfile.mkdtemp()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        backbone = backbone or "tiny_cnn"
        sized = [f"data.options.size={size or (64 if backbone == 'resnet18' else 32)}",  # a power of two (the VAE)
                 f"experiment_name=bench_{backbone}"]
        cfg = compose("train", [f"paths.output_dir={out}", *QUICK, *BACKBONES[backbone], *sized])
    return train(cfg)


def measure(run: Run, ds, cached: dict, layer: str, args) -> dict:
    """Samples/s of one cINN trained from the cache and from the frozen nets, and their ratio."""
    build = {"_target_": "iin.flows.InvarianceCINN", "z_dim": cached["mean"].shape[0],
             "cond_shape": list(cached[layer].shape), **plain(run.config.invariance.flow)}  # the run's own flow
    module = InvarianceModule(build_module(build), optimizer=None, scheduler=None,  # stepped by samples_per_second
                              precision=args.precision)
    rep = Representation(run.classifier(), layer, run.config.data.num_classes)
    sources = {"cached": CachedBatches(mean=cached["mean"], logvar=cached["logvar"], cond=cached[layer]),
               "recompute": RecomputeBatches(ds, rep, run.autoencoder())}
    out = {f"{mode}_samples_per_s": samples_per_second(module, batch_loader(StepBatches(src, args.batch_size, 0)),
                                                       args.steps, args.warmup)
           for mode, src in sources.items()}
    out["speedup"] = out["cached_samples_per_s"] / out["recompute_samples_per_s"]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run-dir", default="outputs/colormnist")
    p.add_argument("--backbone", choices=sorted(BACKBONES), default=None,
                   help="measure on a fresh quick run with this backbone instead of --run-dir")
    p.add_argument("--size", type=int, default=None, help="image size of the fresh run (default 64 for resnet18)")
    p.add_argument("--layers", nargs="+", default=None, help="default: block1 penultimate (layer2 avgpool for resnet18)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before each measurement")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="the flow's training precision (default: the run's invariance.precision)")
    args = p.parse_args()
    torch.manual_seed(0)
    run = ensure_run(args.run_dir, args.backbone, args.size)
    args.layers = args.layers or (["layer2", "avgpool"] if args.backbone == "resnet18" else ["block1", "penultimate"])
    cfg = run.config
    args.precision = args.precision or cfg.invariance.get("precision", "float32")
    ds = dataset_from_config(cfg.data, "train")
    cached = feature_cache(cfg, run).get("train", args.layers, ds)
    result = {"run_dir": str(run.root), "backbone": cfg.backbone.get("name", "custom"),
              "image_size": cfg.data.options.get("size"), "flow": plain(cfg.invariance.flow),
              "steps": args.steps, "warmup": args.warmup, "batch_size": args.batch_size,
              "precision": args.precision,
              "torch_threads": torch.get_num_threads()}
    for layer in args.layers:
        result[layer] = measure(run, ds, cached, layer, args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
