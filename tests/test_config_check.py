"""Config range checks: every shipped config passes; a bad value fails before anything is written, naming its key."""
from pathlib import Path

import pytest

from conftest import CONFIGS, make_config
from iin.cli import train
from iin.config_check import ConfigError, check_config

EXPERIMENTS = sorted(p.stem for p in (Path(CONFIGS) / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_shipped_configs_pass(experiment):
    check_config(make_config([f"experiment={experiment}"]))


def test_evaluate_config_passes():
    check_config(make_config(["run_dir=somewhere"], name="evaluate"))


@pytest.mark.parametrize("override, message", [
    ("concepts.steps=0", r"concepts\.steps=0 \(must be an integer >= 1\)"),
    ("invariance.lr=-1e-3", r"invariance\.lr=-0\.001 \(must be a number > 0\)"),
    ("concepts.estimate.temperature=0", r"concepts\.estimate\.temperature=0 \(must be a number > 0\)"),
    ("concepts.rho=1.0", r"concepts\.rho=1\.0 \(must be a number in \[0, 1\)\)"),
    ("concepts.flow.depth=0", r"concepts\.flow\.depth=0"),
    ("data.batch_size=2.5", r"data\.batch_size=2\.5 \(must be an integer >= 1\)"),
    ("invariance.grad_clip=0", r"invariance\.grad_clip=0 \(must be a number > 0 or null\)"),
    ("classifier.epochs=-1", r"classifier\.epochs=-1"),
    ("invariance.holdout.share=1", r"invariance\.holdout\.share=1 \(must be a number in \[0, 1\)\)"),
    ("concepts.holdout.every_steps=0", r"concepts\.holdout\.every_steps=0 \(must be an integer >= 1\)"),
    ("invariance.precision=float16", r"invariance\.precision='float16' \(must be one of float32, bfloat16, auto\)"),
    ("+invariance.per_layer.block2.precision=half",
     r"invariance\.per_layer\.block2\.precision='half' \(must be one of float32, bfloat16, auto\)"),
])
def test_bad_values_name_their_key(override, message):
    with pytest.raises(ConfigError, match=message):
        check_config(make_config([override]))


def test_every_bad_value_is_listed_and_nothing_is_written(tmp_path):
    cfg = make_config(["experiment=smoke", f"paths.output_dir={tmp_path}", "concepts.steps=0", "invariance.batch_size=0"])
    with pytest.raises(ConfigError, match=r"invariance\.batch_size=0 .*; concepts\.steps=0 "):
        train(cfg)
    assert not any(tmp_path.iterdir())


def test_null_grad_clip_and_zero_epochs_are_allowed():
    check_config(make_config(["invariance.grad_clip=null", "classifier.epochs=0"]))


@pytest.mark.parametrize("override, message", [
    ("+invariance.per_layer.fx.steps=3", r"invariance\.per_layer\.fx: 'fx' is not one of invariance\.layers"),
    ("+invariance.per_layer.block2.stepz=3", r"invariance\.per_layer\.block2\.stepz: not a setting one layer"),
    ("+invariance.per_layer.block2.workers=3", r"invariance\.per_layer\.block2\.workers: not a setting one layer"),
    ("+invariance.per_layer.block2.steps=0", r"invariance\.per_layer\.block2\.steps=0 \(must be an integer >= 1\)"),
])
def test_bad_per_layer_settings_fail_before_anything_is_written(tmp_path, override, message):
    cfg = make_config(["experiment=smoke", f"paths.output_dir={tmp_path}", override])
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not any(tmp_path.iterdir())
