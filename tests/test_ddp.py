"""Scale: a training stage runs unchanged with Lightning's DDP strategy (2 CPU processes, gloo)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_config
from iin.cli import evaluate
from iin.run import Run

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_autoencoder_stage_with_ddp_on_two_cpu_processes(tmp_path):
    """train.py relaunches itself per rank (Lightning's script launcher), so it runs as a subprocess here."""
    cmd = [sys.executable, "train.py", "experiment=smoke", "trainer=ddp_cpu", "stages=[autoencoder]",
           f"paths.output_dir={tmp_path}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=500,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Starting with 2 processes" in done.stdout + done.stderr  # really two ranks
    run = Run(tmp_path / "smoke")
    vae = run.autoencoder()  # weights-only checkpoint rebuilds the network
    assert vae.z_dim == 16 and (run.root / "logs" / "autoencoder" / "metrics.csv").is_file()
    metrics = evaluate(make_config([f"run_dir={run.root}", "eval.frechet_samples=200"], name="evaluate"))
    assert math.isfinite(metrics["autoencoder"]["recon_mse"])
    assert {"classifier", "oracle"} <= {m["section"] for m in metrics["missing"]}
    assert (run.root / "report.html").is_file()
