"""A non-editable install trains and evaluates from an empty directory (the configs ship in the package)."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_non_editable_install_trains_and_evaluates_from_an_empty_directory(tmp_path):
    """`pip install .` into a fresh virtual environment; its dependencies come from this environment's
    site-packages through a .pth file (a CUDA-sized torch install per test run would take minutes)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "iin_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    work = tmp_path / "empty"
    work.mkdir()
    located = subprocess.run([str(python), "-c", "import iin; print(iin.__file__)"], cwd=work, capture_output=True,
                             text=True, check=True).stdout
    assert str(venv) in located  # the installed copy, not the checkout
    train = subprocess.run([str(venv / "bin" / "iin-train"), "experiment=smoke", "run_dir=r",
                            "stages=[classifier,oracle,autoencoder,invariances]", "invariance.layers=[penultimate]"],
                           cwd=work, capture_output=True, text=True, timeout=900)
    assert train.returncode == 0, train.stderr[-3000:]
    evaluate = subprocess.run([str(venv / "bin" / "iin-evaluate"), "run_dir=r", "~eval.sections.attribution",
                               "eval.frechet_samples=64", "eval.invariance_images=32", "eval.attack_images=16"],
                              cwd=work, capture_output=True, text=True, timeout=900)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert (work / "r" / "report.html").is_file() and (work / "r" / "invariances" / "penultimate.pt").is_file()
