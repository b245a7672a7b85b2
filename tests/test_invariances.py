"""Feature cache, cached vs recompute batches, guards, and a torchvision backbone end to end."""
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from conftest import make_config
from iin.batches import CachedBatches, RecomputeBatches
from iin.checkpoint import save_checkpoint
from iin.cli import train
from iin.data import colormnist
from iin.editing import Interpreter
from iin.features import FeatureCache, Representation, compute
from iin.run import Run
from iin.stages.common import NonFiniteLossError, fit


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("inv")
    cfg = make_config(["experiment=smoke", f"paths.output_dir={out}", "stages=[classifier,autoencoder]"])
    return cfg, train(cfg)


def test_cache_is_reused_and_rebuilt_when_the_backbone_changes(base_run):
    cfg, run = base_run
    ds = colormnist("train")
    cache = FeatureCache(run, cfg.data, 10)
    first = cache.get("train", ["block2"], ds)
    path = cache.path("train", "block2")
    stamp = path.stat().st_mtime_ns
    assert torch.equal(FeatureCache(run, cfg.data, 10).get("train", ["block2"], ds)["block2"], first["block2"])
    assert path.stat().st_mtime_ns == stamp  # reused, not recomputed
    ckpt = run.load("classifier")
    ckpt["state_dict"] = {k: v * 1.5 if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    save_checkpoint(run.checkpoint("classifier"), **ckpt)
    rebuilt = FeatureCache(run, cfg.data, 10)
    assert rebuilt.fingerprint != cache.fingerprint
    assert not torch.equal(rebuilt.get("train", ["block2"], ds)["block2"], first["block2"])


def test_cached_and_recompute_batches_agree(base_run):
    cfg, run = base_run
    ds = colormnist("test")
    rep = Representation(run.classifier(), "penultimate", 10)
    cached = compute(run.classifier(), run.autoencoder(), ["penultimate"], ds.images, ds.labels, 10)
    a = CachedBatches(mean=cached["mean"], logvar=cached["logvar"], cond=cached["penultimate"])[[3, 7, 11]]
    b = RecomputeBatches(ds.images, ds.labels, rep, run.autoencoder())[[3, 7, 11]]
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in ("mean", "logvar", "cond"))


def test_nan_features_are_reported():
    class NaNNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Identity()

        def forward(self, x):
            return self.layer(x * float("nan"))

    class AE(nn.Module):
        def encode(self, x):
            from iin.autoencoder import DiagonalGaussian
            return DiagonalGaussian(x.flatten(1)[:, :4], x.flatten(1)[:, :4])

    with pytest.raises(ValueError, match=r"features of 'layer' contain NaN or inf for 3 image"):
        compute(NaNNet(), AE(), ["layer"], torch.rand(3, 3, 4, 4), torch.zeros(3, dtype=torch.long), 10)


class Exploding(pl.LightningModule):
    """Finite loss for two epochs, then NaN."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def training_step(self, batch, _idx):
        loss = (self.w * batch[0]).mean()
        return loss * float("nan") if self.current_epoch >= 2 else loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = make_config(["experiment=smoke", f"paths.output_dir={tmp_path}"])
    run = Run(tmp_path / "run")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(8, 1)), batch_size=4)
    with pytest.raises(NonFiniteLossError, match="non-finite loss.*last good checkpoint"):
        fit(cfg, run, "explode", Exploding(), max_epochs=5, val=False, train_dataloaders=loader)
    last = torch.load(run.lightning_dir("explode") / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1 and torch.isfinite(last["state_dict"]["w"]).all()


def test_resnet18_end_to_end(tmp_path):
    cfg = make_config(["experiment=smoke", f"paths.output_dir={tmp_path}", "backbone=resnet18", "~backbone.width", "~backbone.hidden",
                       "data.options.size=64", "+data.options.n=256", "invariance.layers=[layer2,avgpool]",
                       "stages=[classifier,autoencoder,invariances]", "classifier.epochs=1",
                       "trainer.limit_train_batches=1"])
    run = train(cfg)
    interp = Interpreter(run)
    assert interp.layers == ["layer2", "avgpool"]
    x = colormnist("test", size=64).images[:2]
    for layer in interp.layers:
        samples = interp.sample_invariances(x, layer, n=2).images
        assert samples.shape == (2, 2, 3, 64, 64) and torch.isfinite(samples).all()
    assert interp.cinn("layer2").cond_shape == (128, 8, 8) and interp.cinn("avgpool").cond_shape == (512, 1, 1)
