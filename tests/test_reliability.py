"""The command-line cases of the reliability probes (bad inputs and faults on the smoke experiment), replayed.

Each case runs train.py / evaluate.py / `python -m iin.report` in this process (Hydra's real entry points with
sys.argv set; the datasets stay cached between cases) from a scratch folder, and asserts the exit code, that
stderr is one line naming the offending key or file with no traceback, and that the run directory is
byte-identical afterwards where nothing should change. Cases that write get a copy of one finished smoke run.
A few need real processes (concurrency, --debug) and start them.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch

from iin.cli import evaluate_main, train_main

ROOT = Path(__file__).resolve().parents[1]


def tree_hash(root: Path) -> dict[str, str]:
    """{relative path: sha1} of every file under root (missing root: {})."""
    if not root.exists():
        return {}
    if root.is_file():
        return {".": hashlib.sha1(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@dataclass
class Case:
    """One probe: the command, the expected exit code and the words its one-line message must contain."""
    number: int
    command: str                      # train | evaluate | report
    args: list[str]
    rc: int = 2
    says: tuple[str, ...] = ()
    target: str = "R"                 # R: a copy of the finished run, F: a fresh path, or a path in the scratch
    unchanged: bool = True            # the target is byte-identical afterwards
    prepare: Callable | None = None   # prepare(scratch, target) before the command
    check: Callable | None = None     # check(scratch, target) afterwards


# --- preparations ----------------------------------------------------------------------------------------
def _images(folder: Path, classes: dict[str, int], size=(12, 12), mode="RGB") -> None:
    from PIL import Image

    for name, n in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new(mode, size, color=(i * 7 % 255,) * (1 if mode == "L" else len(mode))).save(folder / name / f"{i}.png")


def _write(rel: str, data: bytes) -> Callable:
    def prepare(scratch: Path, target: Path) -> None:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(data)
    return prepare


def _truncate(rel: str, keep: int) -> Callable:
    def prepare(scratch: Path, target: Path) -> None:
        data = (target / rel).read_bytes()
        (target / rel).write_bytes(data[:keep])
    return prepare


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/iin_reliability_marker",))


def _malicious(zipped: bool = False) -> bytes:
    """A pickle (plain, or inside torch's zip format) that would create the marker file when unpickled."""
    import io
    import pickle

    if not zipped:
        return pickle.dumps(_Boom())
    buf = io.BytesIO()
    torch.save({"state_dict": _Boom()}, buf)
    return buf.getvalue()


def _no_marker(scratch: Path, target: Path) -> None:
    assert not Path("/tmp/iin_reliability_marker").exists()


def _drop(rel: str, then: Callable | None = None) -> Callable:
    def prepare(scratch: Path, target: Path) -> None:
        (target / rel).unlink()
        if then:
            then(scratch, target)
    return prepare


def _tuple_backbone(scratch: Path, target: Path) -> None:
    (scratch / "mymods.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class Pair(nn.Module):\n    def forward(self, x):\n        return x, x\n"
        "class TupleNet(nn.Module):\n    def __init__(self, in_channels=3, num_classes=10, **_):\n"
        "        super().__init__(); self.pair = Pair(); self.fc = nn.Linear(in_channels * 32 * 32, num_classes)\n"
        "    def forward(self, x):\n        a, _ = self.pair(x)\n        return self.fc(a.flatten(1))\n")


def _folders(kind: str) -> Callable:
    def prepare(scratch: Path, target: Path) -> None:
        data = scratch / "data" / kind
        if kind == "oneclass":
            _images(data, {"a": 40})
        elif kind == "ok":
            _images(data, {"a": 20, "b": 20})
        elif kind == "modes":
            _images(data, {"a": 20}, mode="L")
            _images(data, {"b": 20}, size=(33, 17), mode="RGBA")
        elif kind == "emptyclass":
            _images(data, {"a": 20, "b": 20})
            (data / "c").mkdir()
        elif kind in ("nonimage", "truncpng"):
            _images(data, {"a": 20, "b": 20})
            (data / "a" / "notes.txt").write_text("hello")
            bad = data / "b" / ("fake.png" if kind == "nonimage" else "0.png")
            if kind == "nonimage":
                bad.write_bytes(b"not a png")
            else:  # noise does not compress: half the file cuts its pixel data
                from PIL import Image

                noise = (torch.rand(32, 32, 3) * 255).to(torch.uint8).numpy()
                Image.fromarray(noise).save(bad)
                bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
        elif kind == "flat":
            data.mkdir(parents=True)
            _images(scratch / "data" / "tmp", {"x": 5})
            for p in (scratch / "data" / "tmp" / "x").iterdir():
                p.rename(data / p.name)
    return prepare


def _spliced_cinn(scratch: Path, target: Path) -> None:
    ckpt = torch.load(target / "invariances" / "block2.pt", weights_only=True)
    other = torch.load(target / "invariances" / "penultimate.pt", weights_only=True)
    ckpt["state_dict"] = other["state_dict"]
    torch.save(ckpt, target / "invariances" / "block2.pt")


def _other_classifier(scratch: Path, target: Path) -> None:
    """A classifier.pt of another training copied into the run (other weights under the same name)."""
    ckpt = torch.load(target / "classifier.pt", weights_only=True)
    ckpt["state_dict"] = {k: v + 1 if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, target / "classifier.pt")


def _raise_os(code: int, where: str):
    def prepare(scratch: Path, target: Path, patch: pytest.MonkeyPatch) -> None:
        import iin.run_lock

        def refuse(path, *a, **k):
            raise OSError(code, os.strerror(code), str(path))
        if where == "mkdir":  # only the run directory is unwritable (Hydra's folder under outputs/ is not)
            real = Path.mkdir
            patch.setattr(Path, "mkdir", lambda self, *a, **k: refuse(self) if str(self).startswith(str(target))
                          else real(self, *a, **k))
        else:
            patch.setattr(iin.run_lock.os, "open", refuse)
    prepare.patches = True
    return prepare


def _disk_full(scratch: Path, target: Path, patch: pytest.MonkeyPatch) -> None:
    import iin.checkpoint

    real = torch.save

    def half_then_full(obj, f, *a, **k):
        real(obj, f, *a, **k)
        Path(f).write_bytes(Path(f).read_bytes()[:100])  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))
    patch.setattr(iin.checkpoint.torch, "save", half_then_full)


_disk_full.patches = True


def _no_partial_files(scratch: Path, target: Path) -> None:
    leftovers = [p for p in target.rglob("*") if p.is_file() and (p.suffix in (".ckpt", ".pt") or ".tmp" in p.name)]
    assert leftovers == []


def _locked_by_live_process(scratch: Path, target: Path) -> None:
    (target / ".lock").write_text(f'{{"pid": 1, "host": "{socket.gethostname()}", "command": "train"}}')


def img(folder: str, classes: int, *extra: str, size: int = 32, stages: str = "[classifier]") -> list[str]:
    return ["experiment=smoke", "data=imagefolder", f"data.options.root=data/{folder}", f"data.num_classes={classes}",
            f"data.options.size={size}", "data.num_workers=0", f"stages={stages}", *extra]


T = ["experiment=smoke"]
FAST_EVAL = ["eval.frechet_samples=64", "eval.invariance_images=64", "eval.concept_images=64", "eval.attack_images=32",
             "eval.samples=4"]
CASES = [
    Case(1, "train", ["experiment=nope"], rc=1, says=("experiment/nope",), target="F"),
    Case(2, "train", [*T, "data=nope"], rc=1, says=("data/nope",), target="F"),
    Case(3, "train", [*T, "invariance.stepz=5"], rc=1, says=("stepz",), target="F"),
    Case(4, "train", [*T, "invariance.steps=abc"], says=("invariance.steps='abc'",), target="F"),
    Case(5, "train", [*T, "invariance.steps=-5"], says=("invariance.steps=-5",), target="F"),
    Case(6, "train", [*T, "data.batch_size=0", "concepts.lr=-1"], says=("data.batch_size=0", "concepts.lr=-1"), target="F"),
    Case(7, "train", [*T, "invariance.steps=2.5"], says=("invariance.steps=2.5",), target="F"),
    Case(8, "train", [*T, "checkpoint_every_steps=0"], says=("checkpoint_every_steps=0",), target="F"),
    Case(9, "train", [*T, "stages=[classifer]"], says=("stages", "classifer"), target="F"),
    Case(10, "train", [*T, "invariance.layers=[block9]"], says=("invariance.layers", "block9")),
    Case(11, "train", [*T, "invariance.layers=[block9]"], says=("invariance.layers", "block9"), target="F"),
    Case(12, "train", [*T, "invariance.layers=[block1.0.weight]"], says=("block1.0.weight",), target="F"),
    Case(13, "train", [*T, "backbone=custom", "backbone._target_=mymods.TupleNet", "invariance.layers=[pair]",
                       "stages=[classifier,autoencoder,invariances]"], says=("invariance.layers", "'pair'", "tuple"),
         target="F", prepare=_tuple_backbone),
    Case(14, "evaluate", [], says=("no config.yaml",), target="F"),
    Case(15, "evaluate", [], says=("is a file",), target="afile", prepare=lambda s, t: t.write_text("x")),
    Case(16, "train", [*T], says=("is a file",), target="afile", prepare=lambda s, t: t.write_text("x")),
    Case(17, "evaluate", [], says=("no config.yaml",), target="emptydir", prepare=lambda s, t: t.mkdir()),
    Case(18, "evaluate", ["--no-run-dir"], says=("evaluate.py needs run_dir=",), target="F"),
    Case(19, "evaluate", ["eval.samples=0"], says=("eval.samples=0",)),
    Case(20, "evaluate", ["eval.sample=3"], rc=1, says=("sample",)),
    Case(21, "train", [*T, "invariance.mode=bogus"], says=("invariance.mode='bogus'",), target="F"),
    Case(22, "train", [*T, "concepts.factors=[digit,colour]"], says=("concepts.factors", "colour"), target="F"),
    Case(23, "train", [*T, "stages=[invariances]", "invariance.layers=[block2]", "invariance.lr=1e12",
                       "invariance.grad_clip=null"], says=("non-finite loss", "invariances/block2"), unchanged=False,
         prepare=_drop("invariances/block2.pt")),
    Case(24, "train", [*T, "data=imagefolder", "data.num_classes=2", "data.root=x"], rc=1, says=("root",), target="F"),
    Case(25, "train", [*T, "data=imagefolder", "data.options.root=data/ok"], says=("data.num_classes",), target="F",
         prepare=_folders("ok")),
    Case(26, "evaluate", [], says=("config.yaml",), unchanged=False, prepare=_write("config.yaml", b"a: [1, 2\nb: {")),
    Case(27, "report", [], says=("metrics.json",), unchanged=False, prepare=_write("metrics.json", b'{"a": 1\n"b": 2}')),
    Case(28, "train", img("nowhere", 2), says=("nowhere", "data.options.root"), target="F"),
    Case(29, "train", img("oneclass", 1), says=("data.num_classes=1",), target="F", prepare=_folders("oneclass")),
    Case(29, "train", img("ok", 2, stages="[invariances]"), says=("invariance.batch_size=64", "32 training examples"),
         target="F", prepare=_folders("ok")),
    Case(30, "train", img("modes", 2), rc=0, target="F", unchanged=False, prepare=_folders("modes")),
    Case(31, "train", img("modes", 2, size=8), rc=0, target="F", unchanged=False, prepare=_folders("modes")),
    Case(32, "train", img("emptyclass", 3), says=("class folder", "emptyclass/c", "no images"), target="F",
         prepare=_folders("emptyclass")),
    # images decode lazily (a folder is never read whole up front): a bad file stops the stage that reads it,
    # naming the file; the fresh run directory keeps only its config and log
    Case(33, "train", img("nonimage", 2), says=("fake.png", "bad_images=skip"), target="F", unchanged=False,
         prepare=_folders("nonimage")),
    Case(34, "train", img("truncpng", 2), says=("b/0.png", "cannot read image"), target="F", unchanged=False,
         prepare=_folders("truncpng")),
    Case(35, "train", img("flat", 2), says=("no images",), target="F", prepare=_folders("flat")),
    Case(36, "train", img("ok", 1), says=("data.num_classes",), target="F", prepare=_folders("ok")),
    Case(37, "evaluate", [], says=("classifier.pt", "corrupt"), unchanged=False, prepare=_truncate("classifier.pt", 5000)),
    Case(38, "evaluate", [], says=("autoencoder.pt",), unchanged=False, prepare=_truncate("autoencoder.pt", 0)),
    Case(39, "evaluate", [], says=("classifier.pt",), unchanged=False, prepare=_write("classifier.pt", _malicious()),
         check=_no_marker),
    Case(40, "evaluate", [], says=("block2.pt",), unchanged=False,
         prepare=_write("invariances/block2.pt", _malicious(zipped=True)), check=_no_marker),
    Case(41, "train", [*T, "stages=[invariances]", "invariance.layers=[block2]"], rc=0, unchanged=False,
         prepare=_drop("invariances/block2.pt", _write("lightning/invariances/block2/last.ckpt", _malicious())),
         check=_no_marker),
    Case(42, "train", [*T, "stages=[invariances]", "invariance.layers=[block2]"], says=("shard-00000.npy", "corrupt"),
         unchanged=False, prepare=_drop("invariances/block2.pt", _write("features/train/block2/shard-00000.npy",
                                                                          _malicious())), check=_no_marker),
    Case(43, "evaluate", [], says=("trained on another classifier.pt", "force=true"), unchanged=False,
         prepare=_other_classifier),
    Case(45, "evaluate", [], says=("block2.pt",), unchanged=False, prepare=_spliced_cinn),
    Case(46, "train", [*T, "seed=1", "force=true", "stages=[classifier]"], says=("force=true retrains classifier",
                                                                                  "invariances/block2")),
    Case(46, "train", [*T, "seed=1", "stages=[classifier,autoencoder]"], says=("classifier.seed", "force=true")),
    Case(47, "train", [*T, "backbone.width=16", "stages=[classifier]"], says=("classifier.net.width 8 -> 16",)),
    Case(48, "train", [*T, "stages=[invariances]", "invariance.layers=[block2]"], rc=0, unchanged=False,
         prepare=_drop("invariances/block2.pt", _write("lightning/invariances/block2/last.ckpt", b"PK\x03\x04" + b"0" * 500))),
    Case(68, "train", [*T, "stages=[classifier]"], says=("Permission denied", "writ"), target="F",
         prepare=_raise_os(errno.EACCES, "mkdir")),
    Case(69, "train", [*T, "stages=[classifier]"], says=("Read-only file system",), target="F",
         prepare=_raise_os(errno.EROFS, "mkdir")),
    Case(70, "evaluate", [], says=("Read-only file system", ".lock"), prepare=_raise_os(errno.EROFS, "lock")),
    Case(71, "train", [*T, "stages=[classifier]"], says=("No space left on device", "rerun"), target="F",
         unchanged=False, prepare=_disk_full, check=_no_partial_files),
    Case(73, "train", [*T, "seed=1"], says=("in use", "pid 1"), prepare=_locked_by_live_process),
    Case(74, "evaluate", [], says=("in use", "pid 1"), prepare=_locked_by_live_process),
]


@pytest.fixture(scope="module")
def finished(smoke_run):
    return smoke_run.root


def _main(command: str) -> Callable[[], None]:
    if command == "report":
        from iin.report.__main__ import main
        return main
    return train_main if command == "train" else evaluate_main


def run_cli(command: str, args: list[str], capsys) -> tuple[int, str]:
    """The command's exit code and stderr, run in this process."""
    argv = [f"{command}.py", *args]
    old = sys.argv
    sys.argv = argv
    try:
        _main(command)() if command != "report" else _main(command)(args)
        rc = 0
    except SystemExit as exit_:
        rc = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = old
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=[f"{c.number}-{i}" for i, c in enumerate(CASES)])
def test_probe(case: Case, finished: Path, tmp_path: Path, monkeypatch, capsys):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    monkeypatch.syspath_prepend(str(scratch))
    Path("/tmp/iin_reliability_marker").unlink(missing_ok=True)
    if case.target == "R":
        target = scratch / "run"
        shutil.copytree(finished, target)
    else:
        target = scratch / ("fresh" if case.target == "F" else case.target)
    if case.prepare is not None:
        if getattr(case.prepare, "patches", False):
            case.prepare(scratch, target, monkeypatch)
        else:
            case.prepare(scratch, target)
    before = tree_hash(target)
    args = [a for a in case.args if a != "--no-run-dir"]
    if case.command == "evaluate":
        args = [*FAST_EVAL, *args]
    if case.command == "report":
        args = [str(target)]
    elif "--no-run-dir" not in case.args:
        args.append(f"run_dir={target}")
    rc, err = run_cli(case.command, args, capsys)
    monkeypatch.undo()
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[")]  # log lines start with [
    assert "Traceback" not in err, err[-3000:]
    assert rc == case.rc, err[-3000:]
    if case.rc == 2:
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1, err[-3000:]
        for word in case.says:
            assert word in errors[0], errors[0]
    elif case.rc == 1:
        assert any(all(w in line for w in case.says) for line in lines), err[-3000:]
    if case.unchanged:
        assert tree_hash(target) == before
        if case.target == "F":
            assert not target.exists()
    if case.check is not None:
        case.check(scratch, target)
    if case.number == 41:  # the unsafe advice of torch's message must not be repeated
        assert "weights_only=False" not in err


def test_debug_shows_the_traceback(tmp_path):
    """--debug (a real process): the same user error with its traceback."""
    cmd = [sys.executable, str(ROOT / "train.py"), "experiment=smoke", "invariance.steps=0", "--debug",
           f"run_dir={tmp_path / 'r'}"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1 and "Traceback" in done.stderr and "invariance.steps=0" in done.stderr
    assert not (tmp_path / "r").exists()


def test_evaluate_without_run_dir_in_a_real_process(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "evaluate.py")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and done.stderr.strip() == "error: evaluate.py needs run_dir=<a run directory>"


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "r"
    run.mkdir()
    (run / ".lock").write_text(f'{{"pid": {dead.pid}, "host": "{socket.gethostname()}"}}')
    rc, err = run_cli("train", ["experiment=smoke", "stages=[]", f"run_dir={run}"], capsys)
    assert rc == 0 and (run / "config.yaml").is_file() and not (run / ".lock").exists()


FIRST = """
import pathlib, sys, time
import iin.stages as stages
real, gate = stages.STAGES["classifier"], pathlib.Path(sys.argv[1])
def held(cfg, run, stage="classifier"):  # train, then keep the run (and its lock) until the test opens the gate
    real(cfg, run, stage)
    while not gate.exists():
        time.sleep(0.1)
stages.STAGES["classifier"] = held
from iin.cli import train_main
sys.argv = ["train.py", *sys.argv[2:]]
train_main()
"""


@pytest.mark.slow
def test_two_concurrent_trains_the_second_stops_the_first_is_unaffected(tmp_path):
    """The first train.py (a real process) holds the run while the second (seed 1) starts on it."""
    run, gate = tmp_path / "r", tmp_path / "gate"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = ["experiment=smoke", "stages=[classifier]", f"run_dir={run}"]
    log = open(tmp_path / "first.log", "w")  # a file, not a pipe: nobody reads while the first runs
    first = subprocess.Popen([sys.executable, "-c", FIRST, str(gate), *args], cwd=tmp_path, env=env,
                             stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 400
        while not (run / "classifier.pt").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert (run / ".lock").exists() and (run / "classifier.pt").exists(), "the first train.py did not get going"
        second = subprocess.run([sys.executable, str(ROOT / "train.py"), *args, "seed=1"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=400)
    finally:
        gate.touch()
    assert first.wait(timeout=400) == 0, (tmp_path / "first.log").read_text()[-3000:]
    log.close()
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert second.stderr.strip().startswith("error: run directory") and "in use" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    stored = torch.load(run / "classifier.pt", weights_only=True)["config"]
    assert stored["classifier"]["seed"] == 0 and "seed: 0" in (run / "config.yaml").read_text()
    assert not (run / ".lock").exists()


def test_multirun_gives_each_job_its_own_run_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = run_cli("train", ["-m", "experiment=smoke", "stages=[classifier]", "seed=0,1"], capsys)
    assert rc == 0, err[-3000:]
    jobs = sorted(p.parent for p in (tmp_path / "outputs" / "multirun").glob("*/*/*/classifier.pt"))
    assert [p.name for p in jobs] == ["0", "1"]
    a, b = (torch.load(p / "classifier.pt", weights_only=True) for p in jobs)
    assert (a["config"]["classifier"]["seed"], b["config"]["classifier"]["seed"]) == (0, 1)
    assert any(not torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
