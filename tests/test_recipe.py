"""Optimisers and schedules come from the stage configs (Hydra _partial_ targets) and are recorded in config.yaml."""
import pytest
import torch
from conftest import make_config

from iin.cli import train
from iin.stages.common import recipe

SECTIONS = ("classifier", "oracle", "autoencoder", "invariance", "concepts")


def test_every_stage_builds_its_optimiser_and_schedule_from_its_section():
    cfg = make_config(["invariance.optimizer.weight_decay=0.25", "concepts.lr=0.5"])
    param = torch.nn.Parameter(torch.zeros(3))
    for name in SECTIONS:
        made = recipe(cfg[name])
        opt = made["optimizer"]([param])
        assert opt.defaults["lr"] == cfg[name].lr, name
        if made["scheduler"] is not None:
            made["scheduler"](opt, total_steps=100)
            assert opt.param_groups[0]["lr"] < cfg[name].lr  # one-cycle starts low
    assert recipe(cfg.invariance)["optimizer"]([param]).defaults["weight_decay"] == 0.25
    assert recipe(cfg.autoencoder)["scheduler"] is None  # the first stage keeps a constant rate


def test_the_run_config_records_the_optimiser_that_shaped_the_weights(smoke_run):
    cfg = smoke_run.config
    for name in SECTIONS:
        assert cfg[name].optimizer._target_.startswith("torch.optim."), name
        assert cfg[name].optimizer.lr == cfg[name].lr  # resolved: the values themselves, not ${..lr}
    assert cfg.classifier.optimizer.weight_decay == 1e-4 and cfg.classifier.scheduler.pct_start == 0.3


@pytest.mark.parametrize("scheduler", ["null", "default"])
def test_the_adversarial_first_stage_trains_with_its_discriminator_optimiser(tmp_path, scheduler):
    overrides = ["experiment=smoke", f"paths.output_dir={tmp_path}", "stages=[autoencoder]",
                 "autoencoder.discriminator=true", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    if scheduler == "null":
        run = train(make_config(overrides))
        assert run.has("autoencoder")
        return
    cfg = make_config(overrides + ["+autoencoder.scheduler._target_=torch.optim.lr_scheduler.OneCycleLR",
                                   "+autoencoder.scheduler._partial_=true", "+autoencoder.scheduler.max_lr=0.001"])
    with pytest.raises(ValueError, match="autoencoder.scheduler=null"):
        train(cfg)


def test_a_run_trained_before_optimisers_were_configs_is_still_unchanged(smoke_run, tmp_path):
    """Checkpoints that stored `lr` and `weight_decay` only are read with the recipe the code applied then."""
    import shutil

    from iin.checkpoint import save_checkpoint
    from iin.validate import check_stage_settings

    run_dir = tmp_path / "old"
    shutil.copytree(smoke_run.root, run_dir)
    from iin.run import Run

    old = Run(run_dir)
    for stage in ("classifier", "autoencoder", "invariances/block2"):
        ckpt = old.load(stage)
        config = {k: dict(v) for k, v in ckpt["config"].items()}
        section = next(k for k in config if k != "data")
        for key in ("optimizer", "scheduler", "disc_optimizer"):
            config[section].pop(key, None)
        if section == "classifier":
            config[section]["weight_decay"] = 1e-4
        save_checkpoint(old.checkpoint(stage), **{**ckpt, "config": config})
    cfg = make_config(["experiment=smoke", f"run_dir={run_dir}"])
    check_stage_settings(cfg, old)  # unchanged: no error
    cfg = make_config(["experiment=smoke", f"run_dir={run_dir}", "invariance.optimizer.weight_decay=0.5"])
    with pytest.raises(Exception, match=r"invariance\.optimizer\.weight_decay 1e-05 -> 0\.5"):
        check_stage_settings(cfg, old)


def test_the_classifier_augments_training_batches_only():
    from iin.lit import ClassifierModule
    from iin.stages.common import partial

    cfg = make_config(["experiment=shapes_resnet"])
    augment = partial(cfg.classifier.augment)
    seen = []
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3))
    module = ClassifierModule(net, **recipe(cfg.classifier), augment=lambda x: seen.append(x) or augment(x))
    torch.manual_seed(0)
    batch = {"image": torch.rand(4, 3, 16, 16), "label": torch.tensor([0, 1, 2, 0])}
    module.training_step(batch, 0)
    assert len(seen) == 1 and seen[0] is batch["image"]
    images = torch.rand(64, 3, 16, 16)
    blurred = [not torch.equal(a, b) for a, b in zip(augment(images), images)]
    assert 10 < sum(blurred) < 60  # each image changed or kept on its own draws
    module.validation_step(batch, 0)
    assert len(seen) == 1
