"""Feature cache, cached vs recompute batches, guards, and a torchvision backbone end to end."""
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from conftest import make_config
from iin.batches import CachedBatches, RecomputeBatches, StepBatches
from iin.cache import ShardWriter, is_complete
from iin.errors import ConfigError
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


def _cache(run, cfg, **options):
    return FeatureCache(run, cfg.data, 10, {**cfg.cache, **options})


def test_cache_is_reused_and_rebuilt_when_the_backbone_changes(base_run):
    cfg, run = base_run
    ds = colormnist("train")
    cache = _cache(run, cfg)
    first = cache.get("train", ["block2"], ds)["block2"]
    assert len(first) == len(ds) and first.shape == (16, 8, 8)
    shard = next(cache.path("train", "block2").glob("shard-*.npy"))
    stamp = shard.stat().st_mtime_ns
    idx = torch.tensor([5, 3, 3999, 0])
    before = first.read(idx)
    assert torch.equal(_cache(run, cfg).get("train", ["block2"], ds)["block2"].read(idx), before)
    assert shard.stat().st_mtime_ns == stamp  # reused, not recomputed
    ckpt = run.load("classifier")
    ckpt["state_dict"] = {k: v * 1.5 if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    save_checkpoint(run.checkpoint("classifier"), **ckpt)
    rebuilt = _cache(run, cfg)
    assert rebuilt.fingerprint != cache.fingerprint
    assert not torch.equal(rebuilt.get("train", ["block2"], ds)["block2"].read(idx), before)


def test_cache_rows_equal_the_networks_and_float16_halves_the_disk(base_run, tmp_path):
    cfg, run = base_run
    ds = colormnist("test")
    idx = torch.tensor([3, 7, 11, 998])
    full = _cache(run, cfg, dir=str(tmp_path / "f32"), shard_mb=0.05).get("test", ["penultimate"], ds)
    half = _cache(run, cfg, dir=str(tmp_path / "f16"), dtype="float16").get("test", ["penultimate"], ds)
    direct = compute(run.classifier(), run.autoencoder(), ["penultimate"], ds.images[idx], ds.labels[idx], 10)
    assert len(list((tmp_path / "f32" / "test" / "penultimate").glob("shard-*.npy"))) > 1  # several shards
    for key in ("mean", "logvar", "penultimate"):
        assert torch.allclose(full[key].read(idx), direct[key], atol=1e-5)
        assert torch.allclose(half[key].read(idx), direct[key], rtol=2e-3, atol=2e-3)
    size = {d: sum(f.stat().st_size for f in (tmp_path / d).rglob("*.npy")) for d in ("f32", "f16")}
    assert 0.45 < size["f16"] / size["f32"] < 0.55


def test_cache_above_its_budget_names_the_ways_out(base_run, tmp_path):
    cfg, run = base_run
    with pytest.raises(ConfigError, match=r"above cache.max_gb=1e-05.*invariance.mode=recompute.*cache.dtype=float16"):
        _cache(run, cfg, dir=str(tmp_path), max_gb=1e-5).get("train", ["block2"], colormnist("train"))
    assert not list(tmp_path.rglob("*.npy"))  # stopped before writing


def test_killed_extraction_resumes_to_the_same_features(base_run, tmp_path, monkeypatch):
    """A crash mid-pass leaves whole shards only; the rerun keeps them, completes the rest, equals a clean run."""
    cfg, run = base_run
    ds = colormnist("test")
    calls = {"n": 0}
    original = ShardWriter.write

    def dies_after_six_batches(self, first, values):
        calls["n"] += 1
        if calls["n"] > 6 * 3:  # six batches of three keys
            raise KeyboardInterrupt("killed")
        return original(self, first, values)

    options = {"dir": str(tmp_path / "killed"), "shard_mb": 0.05, "batch_size": 100}
    with monkeypatch.context() as patch:
        patch.setattr(ShardWriter, "write", dies_after_six_batches)
        with pytest.raises(KeyboardInterrupt):
            _cache(run, cfg, **options).get("test", ["penultimate"], ds)
    folder = tmp_path / "killed" / "test" / "penultimate"
    kept = sorted(folder.glob("shard-*.npy"))
    assert kept and not is_complete(folder, _cache(run, cfg, **options).fingerprint)
    stamps = {p: p.stat().st_mtime_ns for p in kept}
    resumed = _cache(run, cfg, **options).get("test", ["penultimate"], ds)
    assert {p: p.stat().st_mtime_ns for p in kept} == stamps  # finished shards were kept, not rewritten
    clean = _cache(run, cfg, dir=str(tmp_path / "clean"), shard_mb=0.05).get("test", ["penultimate"], ds)
    every = torch.arange(len(ds))
    assert all(torch.equal(resumed[k].read(every), clean[k].read(every)) for k in ("mean", "logvar", "penultimate"))


def test_cached_and_recompute_batches_agree(base_run):
    cfg, run = base_run
    ds = colormnist("test")
    rep = Representation(run.classifier(), "penultimate", 10)
    cached = _cache(run, cfg).get("test", ["penultimate"], ds)
    idx = torch.tensor([3, 7, 11])
    a = CachedBatches(mean=cached["mean"], logvar=cached["logvar"], cond=cached["penultimate"]).batch(idx)
    b = RecomputeBatches(ds, rep, run.autoencoder()).batch(idx)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in ("mean", "logvar", "cond"))


def test_step_batches_resume_where_they_stopped_and_share_out_by_rank(base_run, monkeypatch):
    cfg, run = base_run
    ds = colormnist("test")
    cached = _cache(run, cfg).get("test", ["penultimate"], ds)
    source = CachedBatches(mean=cached["mean"], logvar=cached["logvar"], cond=cached["penultimate"])
    batches = StepBatches(source, 64, seed=3)
    stream = iter(batches)
    first = [next(stream)["cond"] for _ in range(20)]  # 15 batches per epoch: crosses an epoch
    batches.start_step = 17
    assert torch.equal(next(iter(batches))["cond"], first[17])
    import iin.batches

    class Indices:
        def __len__(self):
            return 1000

        def batch(self, idx):
            return {"idx": idx}

    seen = []
    for rank in (0, 1):
        monkeypatch.setattr(iin.batches, "rank_and_world", lambda: (rank, 2))
        stream = iter(StepBatches(Indices(), 100, seed=3))
        seen.append(torch.cat([next(stream)["idx"] for _ in range(5)]))  # one epoch of each rank
    assert len(set(seen[0].tolist()) | set(seen[1].tolist())) == 1000  # disjoint halves covering the data
    with pytest.raises(ConfigError, match="invariance.batch_size=5000 is larger than the 1000 training examples"):
        StepBatches(source, 5000, seed=0)


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


def test_a_layer_trains_with_its_own_per_layer_settings(base_run, tmp_path):
    import csv
    import shutil

    cfg, run = base_run
    shutil.copytree(run.root, tmp_path / "run")
    run = train(make_config(["experiment=smoke", f"run_dir={tmp_path / 'run'}", "stages=[invariances]",
                             "invariance.layers=[block2,penultimate]", "+invariance.per_layer.block2.steps=9",
                             "+invariance.per_layer.block2.flow.width=8", "trainer.log_every_n_steps=1"]))
    for layer, steps, width in (("block2", 9, 8), ("penultimate", 5, 32)):
        stored = run.load(f"invariances/{layer}")["config"]["invariance"]
        assert (stored["steps"], stored["flow"]["width"]) == (steps, width) and "per_layer" not in stored
        with open(run.root / "logs" / "invariances" / layer / "metrics.csv") as f:
            assert max(int(row["step"]) for row in csv.DictReader(f)) == steps - 1


def test_bfloat16_training_runs_the_subnets_in_bfloat16_and_evaluates_in_float32():
    from iin.flows import InvarianceCINN
    from iin.lit import InvarianceModule

    torch.manual_seed(0)
    cinn = InvarianceCINN(8, (5,), depth=2, width=16, embed_dim=4, embed_width=8)
    module = InvarianceModule(cinn, None, None, precision="bfloat16")
    seen = []
    first = cinn.flow.module_list[0].subnet[0]  # a Linear of the first coupling's subnet
    first.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    batch = {"mean": torch.randn(6, 8), "logvar": torch.full((6, 8), -2.0), "cond": torch.randn(6, 5)}
    loss = module.training_step(batch, 0)
    assert seen == [torch.bfloat16] and loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(p.dtype == torch.float32 for p in cinn.parameters())
    v, _ = cinn(batch["mean"], c=[batch["cond"]])  # outside training_step: float32 throughout
    assert seen[-1] == torch.float32
    back = cinn(v, c=[batch["cond"]], rev=True, jac=False)[0]
    assert (back - batch["mean"]).abs().max() < 1e-5


def test_auto_precision_takes_bfloat16_only_where_the_hardware_has_it(monkeypatch, caplog):
    from iin.lit import invariance as lit

    cpu = torch.device("cpu")
    for native, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(lit, "native_bfloat16", lambda _type, native=native: native)
        assert lit.autocast_dtype("auto", cpu) == expected
        assert lit.autocast_dtype("bfloat16", cpu) == torch.bfloat16  # asked for: honoured, and warned about
        assert lit.autocast_dtype("float32", cpu) == torch.float32
        module = lit.InvarianceModule(torch.nn.Linear(1, 1), None, None, precision="bfloat16")
        caplog.clear()
        module.on_train_start()
        assert ("emulated" in caplog.text) == (not native)
        module.training_precision = "auto"
        with caplog.at_level("INFO", logger="iin"):
            module.on_train_start()
        assert f"precision=auto trains in {expected}" in caplog.text
    with pytest.raises(ValueError, match="precision must be one of"):
        lit.autocast_dtype("float16", cpu)


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
