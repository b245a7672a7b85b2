"""Seconds per explorer interaction: each mode's handler as the app calls it, median and p95 over N calls.

    python bench/explorer.py [--run-dir outputs/colormnist] [--calls 50] [--threads 1 2]

The run: --run-dir, else outputs/colormnist when it exists, else the smoke experiment trained into a temporary
directory (`run.kind` in the JSON says which; the smoke networks are far smaller than the default ones).
Every call takes another test image and seed, after one warm-up call per handler. Prints JSON:
`threads.<T>.<mode>.median_s` / `p95_s`, and `targets` (the issue's budgets: 0.25 s for invariances with 8
samples, mixing, concepts and Grad-CAM attribution; 1 s for the layer profile of 4 samples per layer).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from iin.explore import Explorer
from iin.explore import handlers

DEFAULT_RUN = Path("outputs/colormnist")
TARGETS = {"invariances": 0.25, "mixing": 0.25, "concepts.swap": 0.25, "concepts.interpolate": 0.25,
           "concepts.resample": 0.25, "attribution.GradCAM": 0.25, "layer_profile": 1.0}


def pick_run(run_dir: str | None) -> tuple[Path, str]:
    if run_dir:
        return Path(run_dir), "given"
    if (DEFAULT_RUN / "config.yaml").is_file():
        return DEFAULT_RUN, "default"
    from hydra import compose, initialize_config_dir

    from iin.cli import CONFIG_DIR, train

    out = tempfile.mkdtemp(prefix="iin-bench-explorer-")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=smoke", f"paths.output_dir={out}"])
    return train(cfg).root, f"smoke (no {DEFAULT_RUN}: the smoke experiment trained into {out})"


def interactions(ex: Explorer) -> dict:
    """mode -> fn(i): the call the app makes for that mode, on test image i with seed i."""
    layer = next((l for l in ex.layers if not l.startswith("@")), ex.layers[0])  # the app's default layer
    x = lambda i: ex.image(i)  # noqa: E731
    calls = {
        "invariances": lambda i: ex.call(handlers.invariances, x(i), layer, 8, i),
        "layer_profile": lambda i: ex.call(handlers.layer_profile, x(i), 4, i),
        "mixing": lambda i: ex.call(handlers.mixing, x(i), x(i + 1), layer),
        "adversarial": lambda i: ex.call(handlers.adversarial, x(i), layer, 0.1, 8, i),
        "attribution.GradCAM": lambda i: ex.attribution(x(i), "GradCAM", layer, 8, i),
    }
    for l in ex.layers:
        calls[f"invariances@{l}"] = lambda i, l=l: ex.call(handlers.invariances, x(i), l, 8, i)
    if ex.concept_targets:
        target = ex.concept_targets[0]
        factor = ex.factors(target)[0]
        for action in handlers.ACTIONS:
            codes = ex.pool_codes(target, factor) if action == "resample" else None  # as the app: once
            calls[f"concepts.{action}"] = lambda i, a=action, c=codes: ex.call(
                handlers.concepts, x(i), x(i + 1), target, factor, a, 8, 1.0, i, c)
    return calls, {"layer": layer, "layers": ex.layers, "concept_target": ex.concept_targets[:1]}


def timed(fn, calls: int) -> dict:
    fn(0)  # warm-up: the first call builds the frozen forwards
    seconds = []
    for i in range(calls):
        start = time.perf_counter()
        fn(1 + i)
        seconds.append(time.perf_counter() - start)
    return {"median_s": round(float(np.median(seconds)), 4), "p95_s": round(float(np.percentile(seconds, 95)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--modes", nargs="+", default=None, help="time only these modes (default: all)")
    args = parser.parse_args()
    run_dir, kind = pick_run(args.run_dir)
    ex = Explorer(run_dir)
    ex.warm()
    calls, setup = interactions(ex)
    calls = {m: fn for m, fn in calls.items() if args.modes is None or m in args.modes}
    out = {"run": {"dir": str(run_dir), "kind": kind, **setup}, "calls": args.calls, "cpus": os.cpu_count(),
           "load_average_1min": {"start": round(os.getloadavg()[0], 2)}, "threads": {}, "targets_s": TARGETS}
    for threads in args.threads:
        torch.set_num_threads(threads)
        out["threads"][str(threads)] = {mode: timed(fn, args.calls) for mode, fn in calls.items()}
    out["load_average_1min"]["end"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the times
    out["within_targets"] = {str(t): {m: res[m]["median_s"] <= budget for m, budget in TARGETS.items() if m in res}
                             for t, res in out["threads"].items()}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
