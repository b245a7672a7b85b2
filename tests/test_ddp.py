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


@pytest.mark.slow
def test_invariance_cinn_with_ddp_reads_one_shared_cache(tmp_path):
    """Rank 0 extracts the cache before DDP starts; the relaunched rank finds it complete and extracts nothing."""
    base = ["experiment=smoke", f"paths.output_dir={tmp_path}", "invariance.layers=[penultimate]", "invariance.steps=6"]
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    first = subprocess.run([sys.executable, "train.py", *base, "stages=[classifier,autoencoder]"], cwd=ROOT,
                           capture_output=True, text=True, timeout=500, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    cmd = [sys.executable, "train.py", *base, "trainer=ddp_cpu", "stages=[invariances]", "invariance.workers=1"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=500, env=env)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "Starting with 2 processes" in log
    assert log.count("feature cache: 4000 images in") == 1  # extracted once, not once per rank
    run = Run(tmp_path / "smoke")
    assert run.has("invariances/penultimate")
    from iin.editing import Interpreter

    cinn = Interpreter(run).cinn("penultimate")
    assert all(p.isfinite().all() for p in cinn.parameters())
