"""The benchmarks still run: each one, shrunk, prints the JSON it promises (their figures are not asserted)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                         cwd=ROOT, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout[out.stdout.index("{"):])


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_cinn_throughput_measures_both_modes_and_their_ratio(precision):
    got = bench("cinn_throughput.py", "--backbone", "tiny_cnn", "--layers", "block1", "logits", "--steps", "2",
                "--batch-size", "16", "--precision", precision)
    assert got["precision"] == precision
    for layer in ("block1", "logits"):
        cached, recompute = got[layer]["cached_samples_per_s"], got[layer]["recompute_samples_per_s"]
        assert cached > 0 and recompute > 0
        assert got[layer]["speedup"] == pytest.approx(cached / recompute)


def test_autoencoder_bench_counts_parameters_per_size():
    got = bench("autoencoder.py", "--sizes", "32", "64", "--steps", "1", "--repeats", "1", "--batch", "2")
    sizes = got["sizes"]
    assert sizes["64"]["params"] > sizes["32"]["params"]  # the Linear at the (size/8)^2 latent map grows
    assert all(sizes[s]["train_images_per_s"] > 0 for s in ("32", "64"))
