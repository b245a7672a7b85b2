"""Checkpoints: atomic saves, weights_only loads, clear errors."""
import pytest
import torch

from iin.backbones import TinyCNN
from iin.checkpoint import CheckpointError, load_state, load_weights, save_checkpoint


class Foreign:  # arbitrary objects are never unpickled
    pass


def test_round_trip_with_plain_config(tmp_path):
    net = TinyCNN(width=4, hidden=8)
    path = save_checkpoint(tmp_path / "a.pt", state_dict=net.state_dict(), build={"width": 4, "hidden": 8})
    ckpt = load_state(path)
    assert ckpt["build"] == {"width": 4, "hidden": 8}
    load_weights(TinyCNN(width=4, hidden=8), ckpt["state_dict"], path)


def test_missing_corrupt_and_foreign_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.pt is corrupt"):
        load_state(tmp_path / "bad.pt")
    torch.save({"x": Foreign()}, tmp_path / "pickle.pt")
    with pytest.raises(CheckpointError, match="corrupt or not a weights-only"):
        load_state(tmp_path / "pickle.pt")


def test_shape_mismatch_names_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", state_dict=TinyCNN(width=4, hidden=8).state_dict())
    with pytest.raises(CheckpointError, match=r"c\.pt does not fit TinyCNN.*size mismatch"):
        load_weights(TinyCNN(width=8, hidden=8), load_state(path)["state_dict"], path)


def test_every_stage_checkpoint_names_its_target_and_load_module_rebuilds_it(smoke_run):
    stages = ["classifier", "oracle", "autoencoder", "invariances/block2", "concepts/@autoencoder"]
    for stage in stages:
        build = smoke_run.load(stage)["build"]
        assert "_target_" in build, stage
        module = smoke_run.load_module(stage)
        assert not module.training
        state = smoke_run.load(stage)["state_dict"]
        assert all(torch.equal(module.state_dict()[k], v) for k, v in state.items()), stage


def test_a_checkpoint_without_target_loads_as_its_stage_kind(smoke_run, tmp_path):
    """Runs trained before `build` named its class still load (the class follows from the stage's kind)."""
    from iin.run import Run

    run = Run(tmp_path)
    for stage in ("classifier", "invariances/block2"):
        ckpt = smoke_run.load(stage)
        legacy = {k: v for k, v in ckpt["build"].items() if k != "_target_"}
        save_checkpoint(run.checkpoint(stage), **{**ckpt, "build": legacy})
        old, new = run.load_module(stage), smoke_run.load_module(stage)
        assert type(old) is type(new)
        assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))


def test_a_target_that_cannot_be_imported_is_one_clear_line(smoke_run, tmp_path):
    from iin.run import Run

    run = Run(tmp_path)
    ckpt = smoke_run.load("classifier")
    save_checkpoint(run.checkpoint("classifier"), **{**ckpt, "build": {"_target_": "gone.Module", "width": 4}})
    with pytest.raises(CheckpointError, match=r"classifier\.pt: cannot rebuild gone\.Module .*retrain the stage"):
        run.load_module("classifier")
