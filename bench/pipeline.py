"""Wall time of the whole pipeline: every training stage, the evaluation, and the total, printed as JSON.

    python bench/pipeline.py                      # default experiment (colormnist) into a fresh temp dir
    python bench/pipeline.py experiment=smoke     # any Hydra overrides of train.yaml
    python bench/pipeline.py --run-dir outputs/colormnist   # reuse a run dir (finished stages are skipped)
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # importable from a checkout even when the editable install is stale
from iin.cli import CONFIG_DIR  # noqa: E402

CONFIGS = str(CONFIG_DIR)


def compose_configs(overrides: list[str], output_dir: str, run_dir: str | None):
    """train.yaml and evaluate.yaml composed the way train.py and evaluate.py do."""
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        train_cfg = compose("train", [f"paths.output_dir={output_dir}", *overrides])
        if run_dir:
            with open_dict(train_cfg):
                train_cfg.run_dir = run_dir
        eval_cfg = compose("evaluate", [f"run_dir={train_cfg.run_dir}"])
    return train_cfg, eval_cfg


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return round(time.perf_counter() - start, 3)


def bench(overrides: list[str], run_dir: str | None, output_dir: str) -> dict:
    """Run each stage of cfg.stages, then evaluate; seconds per step and per evaluation section."""
    from iin.cli import evaluate, train

    train_cfg, eval_cfg = compose_configs(overrides, output_dir, run_dir)
    stages: dict[str, float] = {}
    for stage in list(train_cfg.stages):
        with open_dict(train_cfg):
            train_cfg.stages = [stage]
        stages[stage] = timed(train, train_cfg)
    start = time.perf_counter()
    metrics = evaluate(eval_cfg)
    evaluation = round(time.perf_counter() - start, 3)
    sections = {k.split("/", 1)[1]: v for k, v in metrics["timing"].items() if k.startswith("evaluate/")}
    where = str(train_cfg.run_dir) if run_dir else "temporary (deleted)"
    return {"experiment": train_cfg.experiment_name, "run_dir": where, "stages": stages,
            "evaluate": evaluation, "evaluate_sections": sections, "total": round(sum(stages.values()) + evaluation, 3),
            "device": "cuda" if torch.cuda.is_available() else "cpu", "torch_threads": torch.get_num_threads(),
            "machine": platform.machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", help="run directory to train into (default: a fresh temp dir)")
    args, overrides = parser.parse_known_args()
    if not any(o.startswith("experiment=") for o in overrides):
        overrides = ["experiment=colormnist", *overrides]
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="iin-bench-") as tmp:
        print(json.dumps(bench(overrides, args.run_dir, tmp), indent=2))


if __name__ == "__main__":
    main()
