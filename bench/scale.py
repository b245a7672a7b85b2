"""Memory and speed against data size: image folders of N procedural shapes at 64 px (default N = 2,000, 8,000,
32,000). For each N, in fresh processes: (a) feature extraction of the train split (posterior + two layers),
(b) 200 steps of INN training on the cache (its wall time, and the steady-state rate against a run of 1,000
steps), (c) evaluation of one layer on 500 test images. Prints JSON with peak RSS (MB) and images/s per phase
and N, and the ratios against the smallest N.

    python bench/scale.py [--sizes 2000 8000 32000] [--threads 2] [--workdir DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LAYERS = ["block2", "penultimate"]
STEPS, LONG_STEPS, BATCH = 200, 1000, 128  # INN training: the stage as asked, and a longer run for the rate


def make_folder(root: Path, n: int, size: int) -> None:
    """n shapes images as PNG files under root/<shape>/ (skipped when already there)."""
    from PIL import Image

    from iin.data import SHAPES, shapes

    if (root / ".done").is_file():
        return
    for chunk in range(0, n, 1000):
        ds = shapes("train", n=min(1000, n - chunk), size=size, seed=chunk)
        pixels = (ds.images.permute(0, 2, 3, 1) * 255).round().byte().numpy()  # (N, C, H, W) -> (N, H, W, C)
        for i, (img, label) in enumerate(zip(pixels, ds.labels.tolist())):
            folder = root / SHAPES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{chunk + i:06d}.png")
    (root / ".done").touch()


def overrides(data_root: Path, out: Path) -> list[str]:
    return ["experiment=smoke", "data=imagefolder", f"data.options.root={data_root}", "data.num_classes=3",
            "data.options.size=64", "data.options.test_fraction=0.25", "data.num_workers=2",
            f"paths.output_dir={out}", "experiment_name=run",
            f"invariance.layers=[{','.join(LAYERS)}]", "invariance.workers=1", f"invariance.steps={STEPS}",
            f"invariance.batch_size={BATCH}", "logger=csv", "cache.keep=true"]


def compose(args: list[str]):
    from hydra import compose as hydra_compose, initialize_config_dir

    from iin.cli import CONFIG_DIR

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose("train", args)


def phase(name: str, data_root: Path, out: Path) -> dict:
    """One phase in this process; returns its images/s (peak RSS is read by the parent)."""
    import torch

    from iin.cli import train
    from iin.data import dataset_from_config
    from iin.run import Run

    import shutil

    cfg = compose(overrides(data_root, out))
    run = Run(cfg.run_dir)
    if name == "extract":  # measured from scratch every time
        shutil.rmtree(run.root / "features", ignore_errors=True)
    if name == "train":
        shutil.rmtree(run.root / "invariances", ignore_errors=True)
        shutil.rmtree(run.root / "lightning", ignore_errors=True)
    start = time.perf_counter()
    if name == "extract":
        from iin.stages.invariances import feature_cache

        dataset = dataset_from_config(cfg.data, "train")
        feature_cache(cfg, run).get("train", LAYERS, dataset)
        return {"images": len(dataset), "images_per_s": len(dataset) / (time.perf_counter() - start)}
    if name == "train":
        return train_rate(cfg, run)
    from iin.evaluation import options_with_defaults
    from iin.evaluation.context import EvalContext
    from iin.evaluation.invariances import invariance_metrics

    torch.manual_seed(0)
    ctx = EvalContext(run, options_with_defaults({"invariance_images": 500, "samples": 16, "population_images": 1000}))
    invariance_metrics(ctx)
    n = min(500, len(ctx.test))
    return {"images": n, "images_per_s": n / (time.perf_counter() - start)}


def train_rate(cfg, run) -> dict:
    """The stage's wall time for STEPS steps, and the steady-state rate: the extra steps of a longer run over the
    extra time. Trainer setup and checkpoint writes take seconds that do not depend on N; on their own, 200 steps
    of a small flow would measure mostly them."""
    from iin.cli import train

    cfg.stages, cfg.invariance.layers, cfg.force = ["invariances"], [LAYERS[0]], True
    seconds = {}
    for steps in (STEPS, LONG_STEPS):
        cfg.invariance.steps = steps
        train(cfg)
        seconds[steps] = run.timings()[f"invariances/{LAYERS[0]}"]
    rate = (LONG_STEPS - STEPS) * BATCH / (seconds[LONG_STEPS] - seconds[STEPS])
    return {"steps": STEPS, "stage_seconds": round(seconds[STEPS], 2),
            "stage_images_per_s": STEPS * BATCH / seconds[STEPS], "images_per_s": rate}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux carries that across exec,
    so a child started by a large parent would report the parent's size."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return round(kb / 1024, 1)


def run_phase(name: str, data_root: Path, out: Path, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--phase", name, "--data", str(data_root), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def prepare(work: Path, sizes: list[int], threads: int) -> dict[int, tuple[Path, Path]]:
    """Image folders per N; classifier, oracle and autoencoder trained once (on the smallest) and shared."""
    import shutil

    from iin.cli import train

    runs = {}
    for n in sizes:
        make_folder(work / f"data{n}", n, 64)
        runs[n] = (work / f"data{n}", work / f"out{n}")
    small_data, small_out = runs[min(sizes)]
    if not (small_out / "run" / "autoencoder.pt").is_file():
        cfg = compose(overrides(small_data, small_out) + ["stages=[classifier,oracle,autoencoder]"])
        train(cfg)
    for n, (data, out) in runs.items():
        (out / "run").mkdir(parents=True, exist_ok=True)
        for name in ("classifier.pt", "oracle.pt", "autoencoder.pt"):
            if out != small_out:
                shutil.copy(small_out / "run" / name, out / "run" / name)
        cfg = compose(overrides(data, out))
        from omegaconf import OmegaConf

        OmegaConf.save(cfg, out / "run" / "config.yaml", resolve=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="keeps the image folders between runs")
    parser.add_argument("--phase", choices=["extract", "train", "evaluate"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        result = phase(args.phase, Path(args.data), Path(args.out))
        result["peak_rss_mb"] = peak_rss_mb()
        # DataLoader workers are processes of their own: the largest one, once reaped (None without workers);
        # forked, they count the pages they share with this process
        workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result["worker_peak_rss_mb"] = round(workers / 1024, 1) if workers else None
        print(json.dumps(result))
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="iin-scale-"))
    runs = prepare(work, args.sizes, args.threads)
    results: dict = {"threads": args.threads, "image_size": 64, "layers": LAYERS, "phases": {}}
    for name in ("extract", "train", "evaluate"):
        per_n = {n: run_phase(name, *runs[n], args.threads) for n in args.sizes}
        base = per_n[min(args.sizes)]
        for n, r in per_n.items():
            r["rss_ratio"] = round(r["peak_rss_mb"] / base["peak_rss_mb"], 3)
            r["speed_ratio"] = round(r["images_per_s"] / base["images_per_s"], 3)
        results["phases"][name] = {str(n): r for n, r in per_n.items()}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
