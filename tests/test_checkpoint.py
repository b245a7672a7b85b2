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
