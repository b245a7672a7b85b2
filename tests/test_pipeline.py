"""The smoke experiment end to end: stages, resume, evaluation keys (the Interpreter API: test_interpreter.py)."""
import json
import math

import pytest
import torch

from conftest import make_config, run_evaluate
from iin.checkpoint import CheckpointError
from iin.cli import train
from iin.run import Run

STAGE_FILES = ["classifier.pt", "oracle.pt", "autoencoder.pt", "invariances/block2.pt", "invariances/@label.pt",
               "concepts/@autoencoder.pt", "concepts/penultimate.pt", "concepts/penultimate@unsupervised.pt"]


def test_every_stage_writes_its_checkpoint(smoke_run):
    for name in STAGE_FILES:
        assert (smoke_run.root / name).is_file(), name
    assert (smoke_run.root / "config.yaml").is_file()
    assert set(smoke_run.timings()) >= {"classifier", "oracle", "autoencoder", "invariances/block2"}


def test_second_train_skips_finished_stages(smoke_cfg, smoke_run):
    before = {n: (smoke_run.root / n).stat().st_mtime_ns for n in STAGE_FILES}
    train(smoke_cfg)
    assert before == {n: (smoke_run.root / n).stat().st_mtime_ns for n in STAGE_FILES}


def test_evaluate_writes_the_foundation_and_inn_keys(smoke_cfg, smoke_run):
    metrics = run_evaluate(smoke_run.root)
    on_disk = json.loads((smoke_run.root / "metrics.json").read_text())
    assert on_disk["classifier"]["test_accuracy"] == metrics["classifier"]["test_accuracy"]
    assert {"recon_mse", "preservation"} <= set(on_disk["autoencoder"])
    assert set(on_disk["autoencoder"]["preservation"]) == {"digit", "color"}
    assert "digit_accuracy" in on_disk["oracle"] and "classifier" in on_disk["timing"]
    layer = on_disk["invariances"]["block2"]
    for key in ["invertibility_max_abs_err", "nll_bits_per_dim", "reencode_cosine", "reencode_cosine_ae",
                "reencode_cosine_random", "prediction_agreement"]:
        assert math.isfinite(layer[key]), key
    assert set(layer["preservation"]) == set(layer["invariance"]) == {"digit", "color"}
    assert layer["invertibility_max_abs_err"] < 1e-4
    kept = smoke_run.load("invariances/block2")["holdout"]  # training's held-out measure, beside the test NLL
    assert layer["heldout_nll_bits_per_dim"] == kept["heldout"] and layer["kept_step"] == kept["step"] == 5
    assert math.isfinite(layer["train_nll_bits_per_dim"])
    concept = on_disk["concepts"]["@autoencoder"]
    assert set(concept["swap"]) == {"digit", "color"} and concept["invertibility_max_abs_err"] < 1e-4
    kept = smoke_run.load("concepts/@autoencoder")["holdout"]
    assert concept["heldout_factor_loss"] == kept["heldout"] and concept["kept_step"] == kept["step"] == 5
    for key in ["model_response", "model_response_prior", "code_std"]:
        assert set(concept[key]) == {"digit", "color", "residual"} and min(concept[key].values()) > 0, key
    assert concept["model_response_reference"]["color"] > 0  # the model's logits over repainted digits
    walk = on_disk["concepts"]["penultimate@unsupervised"]
    assert walk["invertibility_max_abs_err"] < 1e-4 and set(walk["walk_response"]) == {"pc1", "pc2", "pc3", "pc4"}
    assert math.isfinite(walk["heldout_nll_bits_per_dim"]) and math.isfinite(walk["train_nll_bits_per_dim"])
    assert (smoke_run.root / "figures" / "concepts_walk_penultimate@unsupervised.png").is_file()
    assert sum(concept["factor_dims"].values()) == 16
    assert set(on_disk["attack"]["explained_variance"]) == {"block2", "penultimate"}
    assert "attribution" not in on_disk  # run_evaluate leaves it out: a left-out section stays out


def test_sections_and_frechet_sets_left_out_by_config_stay_out():
    from iin.evaluation import default_options, options_with_defaults

    cfg = make_config(["run_dir=r", "~eval.sections.attribution", "~eval.frechet_sets.noise"], name="evaluate")
    options = options_with_defaults(cfg.eval)
    assert "attribution" not in options.sections and "invariances" in options.sections
    assert "noise" not in options.frechet_sets and "train" in options.frechet_sets
    assert set(options_with_defaults({"samples": 2}).sections) == set(default_options().sections)


def _small_run(tmp_path, *overrides):
    return make_config(["experiment=smoke", f"paths.output_dir={tmp_path}", *overrides])


def test_the_feature_cache_is_dropped_after_training_unless_kept(tmp_path):
    """By default the cache lives only while train.py runs; a later command that needs it rebuilds it."""
    inns = ["stages=[classifier,autoencoder,invariances]", "invariance.layers=[block2]"]
    run = train(_small_run(tmp_path, *inns))
    assert run.has("invariances/block2") and not (run.root / "features").exists()
    run = train(_small_run(tmp_path, *inns[:1], "invariance.layers=[block2,penultimate]", "cache.keep=true"))
    assert run.has("invariances/penultimate")
    assert (run.root / "features" / "train" / "penultimate").is_dir()  # rebuilt for the new layer, then kept


def test_channel_mismatch_is_a_clear_error(tmp_path):
    cfg = _small_run(tmp_path, "data=mnist5k", "backbone.in_channels=3", "stages=[classifier]")
    with pytest.raises(ValueError, match=r"images have 1 channel\(s\) but the backbone tiny_cnn expects 3"):
        train(cfg)


def test_unknown_stage_and_corrupt_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="unknown stage"):
        train(_small_run(tmp_path, "stages=[classifer]"))
    cfg = _small_run(tmp_path, "stages=[classifier,autoencoder]")
    run = train(cfg)
    run.checkpoint("classifier").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"classifier\.pt is corrupt"):
        run.classifier()


def _train_until_power_cut(cfg, monkeypatch, hook: str, dies) -> Run:
    """Train with FiniteLossGuard.<hook> raising as soon as dies(trainer) holds."""
    from iin.stages.common import FiniteLossGuard

    def power_cut(self, trainer, *_):
        if dies(trainer):
            raise RuntimeError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(FiniteLossGuard, hook, power_cut, raising=False)
        with pytest.raises(RuntimeError, match="power cut"):
            train(cfg)
    return Run(cfg.run_dir)


def _resume(cfg, monkeypatch, progress) -> list:
    """Train again; progress(trainer) where each fit started."""
    from iin.stages.common import FiniteLossGuard

    started = []
    monkeypatch.setattr(FiniteLossGuard, "on_train_start", lambda self, trainer, module: started.append(progress(trainer)),
                        raising=False)
    train(cfg)
    return started


def test_interrupted_training_resumes_from_last_checkpoint(tmp_path, monkeypatch):
    cfg = _small_run(tmp_path, "stages=[classifier]", "classifier.epochs=3")
    run = _train_until_power_cut(cfg, monkeypatch, "on_train_epoch_start", lambda t: t.current_epoch == 2)
    assert not run.has("classifier") and (run.lightning_dir("classifier") / "last.ckpt").is_file()
    assert _resume(cfg, monkeypatch, lambda t: t.current_epoch) == [2] and run.has("classifier")


def test_step_based_stage_resumes_from_its_last_step_checkpoint(tmp_path, monkeypatch):
    """INN stages run on endless batches (one epoch): last.ckpt is written every checkpoint_every_steps steps."""
    cfg = _small_run(tmp_path, "stages=[classifier,autoencoder,concepts]", "concepts.targets=[penultimate]",
                     "concepts.unsupervised=[]", "concepts.steps=9", "checkpoint_every_steps=4")
    run = _train_until_power_cut(cfg, monkeypatch, "on_train_batch_start", lambda t: t.global_step == 7)
    last = torch.load(run.lightning_dir("concepts/penultimate") / "last.ckpt", weights_only=True)
    assert not run.has("concepts/penultimate") and last["global_step"] == 4
    assert _resume(cfg, monkeypatch, lambda t: t.global_step) == [4] and run.has("concepts/penultimate")


def test_invariance_layers_and_concept_targets_train_in_parallel_workers(tmp_path):
    cfg = _small_run(tmp_path, "stages=[classifier,autoencoder,invariances,concepts]", "invariance.workers=2",
                     "concepts.workers=2", "concepts.unsupervised=[]")
    run = train(cfg)
    assert all(run.has(f"invariances/{layer}") for layer in cfg.invariance.layers)
    assert all(run.has(f"concepts/{target}") for target in cfg.concepts.targets)
    timing = json.loads((run.root / "timing.json").read_text())
    assert {f"invariances/{layer}" for layer in cfg.invariance.layers} <= set(timing)
    with pytest.raises(ValueError, match=r"invariance\.workers=0 \(must be an integer >= 1\)"):
        train(_small_run(tmp_path, "stages=[invariances]", "invariance.workers=0", "force=true"))


def test_shapes_readouts_and_concepts_use_the_shape_factor(tmp_path):
    cfg = _small_run(tmp_path, "data=shapes", "stages=[classifier,oracle,autoencoder,invariances,concepts]",
                     "invariance.layers=[penultimate]", "concepts.targets=[@autoencoder]", "concepts.unsupervised=[]",
                     "concepts.factors=[shape,color]")
    metrics = run_evaluate(train(cfg).root)
    assert "shape_accuracy" in metrics["oracle"]
    assert set(metrics["invariances"]["penultimate"]["preservation"]) == {"shape", "color", "x", "y", "scale"}
    concept = metrics["concepts"]["@autoencoder"]
    assert set(concept["swap"]) == {"shape", "color"} and "model_response_reference" in concept
    assert concept["model_response_reference"] == {}  # repainting is defined for colormnist only


def _max_diff(a: Run, b: Run, stage: str) -> float:
    sa, sb = a.load(stage)["state_dict"], b.load(stage)["state_dict"]
    assert sa.keys() == sb.keys()
    return max(float((sa[k].float() - sb[k].float()).abs().max()) for k in sa)


def _csv_steps(run: Run, stage: str) -> list:
    import csv

    with open(run.root / "logs" / stage / "metrics.csv", newline="") as fh:
        return [row["step"] for row in csv.DictReader(fh)]


def _killed_and_resumed(tmp_path, monkeypatch, base, overrides, dies) -> tuple[Run, Run]:
    """The same command run (a) uninterrupted and (b) crashed when dies(trainer), then rerun; both start
    from a copy of `base` (the frozen stages they need)."""
    import shutil

    runs = []
    for name, crash in (("a", False), ("b", True)):
        shutil.copytree(base.root, tmp_path / name)
        cfg = make_config(["experiment=smoke", f"run_dir={tmp_path / name}", "trainer.log_every_n_steps=1", *overrides])
        if crash:
            run = _train_until_power_cut(cfg, monkeypatch, "on_train_batch_start", dies)
            assert any(run.root.glob("lightning/**/last.ckpt"))
        train(cfg)
        runs.append(Run(tmp_path / name))
    return runs[0], runs[1]


@pytest.fixture(scope="module")
def frozen_base(tmp_path_factory):
    """classifier + autoencoder trained once, copied by the resume tests."""
    root = tmp_path_factory.mktemp("base")
    return train(make_config(["experiment=smoke", f"run_dir={root}", "stages=[classifier,autoencoder]"]))


@pytest.mark.slow
def test_killed_inn_stage_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch, frozen_base):
    overrides = ["stages=[invariances,concepts]", "invariance.layers=[penultimate]", "invariance.steps=12",
                 "concepts.targets=[penultimate]", "concepts.unsupervised=[]", "concepts.steps=12",
                 "checkpoint_every_steps=4", "invariance.holdout.every_steps=4", "concepts.holdout.every_steps=4"]
    a, b = _killed_and_resumed(tmp_path, monkeypatch, frozen_base, overrides, lambda t: t.global_step == 6)
    assert _max_diff(a, b, "invariances/penultimate") == 0.0  # bit-identical on CPU
    assert a.load("invariances/penultimate")["holdout"] == b.load("invariances/penultimate")["holdout"]
    assert _max_diff(a, b, "concepts/penultimate") == 0.0
    assert a.load("concepts/penultimate")["holdout"] == b.load("concepts/penultimate")["holdout"]
    assert _csv_steps(a, "invariances/penultimate") == _csv_steps(b, "invariances/penultimate")  # appended, not lost
    assert not (b.root / "lightning").exists()  # finished stages drop their resume state


@pytest.mark.slow
def test_killed_autoencoder_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch, frozen_base):
    overrides = ["stages=[autoencoder]", "autoencoder.epochs=3", "force=false"]
    (frozen_base.root / "autoencoder.pt").rename(frozen_base.root / "autoencoder.keep")
    try:
        a, b = _killed_and_resumed(tmp_path, monkeypatch, frozen_base, overrides,
                                   lambda t: t.current_epoch == 2 and t.global_step == 9)
    finally:
        (frozen_base.root / "autoencoder.keep").rename(frozen_base.root / "autoencoder.pt")
    assert _max_diff(a, b, "autoencoder") == 0.0
    assert _csv_steps(a, "autoencoder") == _csv_steps(b, "autoencoder")
    assert b.timings()["autoencoder"] > 0


def test_force_retrains_from_scratch_with_the_new_seed(tmp_path, frozen_base):
    import shutil

    shutil.copytree(frozen_base.root, tmp_path / "r")
    cfg = ["experiment=smoke", f"run_dir={tmp_path / 'r'}", "stages=[classifier]", "keep_resume_state=true"]
    before = Run(tmp_path / "r").load("classifier")["state_dict"]
    train(make_config([*cfg, "seed=1", "force=true"]))
    after = Run(tmp_path / "r").load("classifier")
    assert max(float((before[k] - after["state_dict"][k]).abs().max()) for k in before) > 0
    assert after["config"]["classifier"]["seed"] == 1
    assert (tmp_path / "r" / "lightning" / "classifier" / "last.ckpt").is_file()  # kept on request
