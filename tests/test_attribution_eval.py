"""Faithfulness and sanity metrics on tiny analytic models, and the evaluation section on the smoke run."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from attribution_toys import RegionNet, conv_net, region_images, region_mask
from conftest import make_config

from iin.attribution import Attribution, Saliency
from iin.attribution.evaluate import (auc, cascade_blocks, cascading_randomization, confidence_interval, edge_maps,
                                      gaussian_blur, perturbation_curves, pixel_ranks, pointing_game, random_maps,
                                      spearman)


def test_deletion_and_insertion_of_the_true_map_beat_random():
    model, x = RegionNet(), region_images(4)
    target = torch.zeros(4, dtype=torch.long)
    truth = region_mask().float().expand(4, 1, 32, 32) + 0.01 * x.mean(1, keepdim=True)  # region first
    rnd = random_maps(x, seed=0)
    deletion = {k: auc(perturbation_curves(model, x, m, target, "deletion")).mean() for k, m in
                (("truth", truth), ("random", rnd))}
    insertion = {k: auc(perturbation_curves(model, x, m, target, "insertion")).mean() for k, m in
                 (("truth", truth), ("random", rnd))}
    assert deletion["truth"] < 0.1 and deletion["random"] > 0.3  # 36 of 1024 pixels decide the class
    assert insertion["truth"] > 0.95 and insertion["truth"] > insertion["random"] + 0.1


def test_perturbation_curves_start_and_end_where_the_protocol_says():
    model, x = RegionNet(), region_images(2)
    target = torch.zeros(2, dtype=torch.long)
    deletion = perturbation_curves(model, x, random_maps(x), target, "deletion", n_steps=8)
    insertion = perturbation_curves(model, x, random_maps(x), target, "insertion", n_steps=8)
    full = model(x).softmax(1)[:, 0]
    assert deletion.shape == (2, 9) and torch.allclose(deletion[:, 0], full, atol=1e-5)
    assert torch.allclose(deletion[:, -1], model(torch.zeros_like(x)).softmax(1)[:, 0], atol=1e-5)
    assert torch.allclose(insertion[:, 0], model(gaussian_blur(x)).softmax(1)[:, 0], atol=1e-5)
    assert torch.allclose(insertion[:, -1], full, atol=1e-5)
    assert torch.allclose(auc(torch.ones(1, 5)), torch.ones(1)) and torch.allclose(auc(torch.tensor([[0.0, 1.0]])),
                                                                                   torch.tensor([0.5]))


def test_pixel_ranks_order_by_importance_and_break_ties_at_random():
    maps = torch.tensor([[[[0.1, 0.9], [0.5, 0.5]]]])
    ranks = pixel_ranks(maps, torch.Generator().manual_seed(0))
    assert ranks[0, 1] == 0 and ranks[0, 0] == 3 and {ranks[0, 2].item(), ranks[0, 3].item()} == {1, 2}
    flat = torch.zeros(1, 1, 8, 8)
    firsts = {pixel_ranks(flat, torch.Generator().manual_seed(s))[0].argmin().item() for s in range(5)}
    assert len(firsts) > 1  # not raster order


def test_pointing_game_with_tolerance():
    masks = region_mask().expand(3, 1, 32, 32)
    maps = torch.zeros(3, 1, 32, 32)
    maps[0, 0, 5, 21] = 1  # inside
    maps[1, 0, 10, 21] = 1  # one pixel below the region
    maps[2, 0, 30, 2] = 1  # far away
    assert pointing_game(maps, masks, tolerance=1).tolist() == [True, True, False]
    assert pointing_game(maps, masks, tolerance=0).tolist() == [True, False, False]


def test_edge_baseline_peaks_on_edges_and_blur_keeps_constants():
    x = torch.zeros(1, 3, 16, 16)
    x[..., 8:] = 1.0
    edges = edge_maps(x)[0, 0]
    assert edges[:, 7:9].min() > 0 and edges[:, :6].abs().max() == 0 and edges[:, 10:].abs().max() == 0
    assert torch.allclose(gaussian_blur(torch.full((1, 3, 16, 16), 0.3)), torch.full((1, 3, 16, 16), 0.3))


def test_spearman_and_confidence_interval():
    a = torch.rand(3, 1, 8, 8)
    assert np.allclose(spearman(a, a ** 3), 1) and np.allclose(spearman(a, -a), -1)
    assert spearman(a, torch.zeros_like(a)).tolist() == [0, 0, 0]  # constant map: no correlation, not NaN
    values = np.random.default_rng(0).normal(1.0, 1.0, 400)
    low, high = confidence_interval(values)
    assert low < values.mean() < high and high - low < 0.3
    assert confidence_interval(values[:20])[1] - confidence_interval(values[:20])[0] > high - low


class EdgeMethod(Attribution):
    """A model-independent 'attribution' (Sobel edges): sanity checks must find it unchanged."""

    def _attribute(self, x, target):
        return edge_maps(x)


def test_cascading_randomization_separates_model_dependent_from_independent_maps():
    model, x = conv_net(head="gap"), torch.rand(4, 3, 16, 16)
    target = model(x).argmax(1)
    assert cascade_blocks(model) == ["2", "0"]  # output first; parameter-free Flatten/pool skipped
    edge = cascading_randomization(EdgeMethod, model, x, target, seed=0)
    saliency = cascading_randomization(Saliency, model, x, target, seed=0)
    assert list(edge) == ["2", "0"] and all(np.allclose(r, 1) for r in edge.values())
    assert saliency["0"].mean() < 0.5  # fully re-initialised: the saliency map changes
    assert torch.equal(model[2].weight, conv_net(head="gap")[2].weight)  # the original model is untouched


@pytest.mark.slow
def test_attribution_section_on_the_smoke_run(smoke_run):
    from iin.evaluation.attribution import attribution_metrics
    from iin.evaluation.context import EvalContext

    fast = {"RISE": {"n_masks": 100}, "LIME": {"n_samples": 100}, "Anchors": {"max_samples": 300},
            "ActivationMaximization": {"steps": 4, "attribute_steps": 2}, "DeepDream": {"steps": 2}}
    ctx = EvalContext(smoke_run, {"seed": 0, "attribution": {"n_images": 4, "n_sanity": 2, "methods": fast}})
    metrics = attribution_metrics(ctx)
    for name in ("Saliency", "GradCAM", "RISE", "LIME", "Anchors", "DeepDream"):
        assert {"deletion_auc", "insertion_auc", "pointing_game", "sanity_spearman",
                "seconds_per_image"} <= set(metrics[name])
    assert {"deletion_auc", "insertion_auc"} <= set(metrics["random"]) and isinstance(metrics["notes"], str)
    for figure in ("overlays", "actmax", "deepdream", "sanity"):
        assert (ctx.figures / f"attribution_{figure}.png").is_file()  # staged; evaluate_run moves them


def test_notes_name_every_method_that_loses_to_random():
    from iin.evaluation.attribution import notes

    def aucs(deletion: float, insertion: float) -> dict:
        return {"deletion_auc": deletion, "insertion_auc": insertion}

    results = {"random": aucs(0.3, 0.5), "edge": aucs(0.9, 0.1), "RISE": aucs(0.1, 0.9), "Saliency": aucs(0.4, 0.4)}
    text = notes(results)
    assert "Saliency" in text and "deletion 0.400 vs random 0.300" in text and "insertion 0.400" in text
    assert "RISE not better" not in text and "edge not better" not in text
    assert notes({k: v for k, v in results.items() if k != "Saliency"}).startswith("every method beats")


def test_attribution_options_layer_code_defaults_experiment_and_eval_options():
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from iin.evaluation.attribution import settings

    experiment = OmegaConf.create({"eval": {"attribution": {"n_images": 100, "methods": {"RISE": {"chunk": 50}}}}})
    eval_options = {"attribution": {"n_images": None, "n_steps": 8, "methods": {"RISE": {"n_masks": 10}}}}
    ctx = SimpleNamespace(cfg=experiment, option=lambda key, default: eval_options.get(key, default))
    opts = settings(ctx)
    assert opts["n_images"] == 100 and opts["n_steps"] == 8 and opts["pointing_tolerance"] == 1  # overlay, eval, code
    assert opts["methods"]["RISE"] == {"n_masks": 10, "chunk": 50} and opts["methods"]["LIME"] == {"n_samples": 500}
    eval_options["attribution"]["n_images"] = 4
    assert settings(ctx)["n_images"] == 4  # evaluate.py's options win over the experiment's
    assert settings(SimpleNamespace(cfg=OmegaConf.create({}), option=lambda k, d: d))["n_images"] == 16


def test_the_shapes_experiment_evaluates_the_pointing_game_on_100_images():
    assert make_config(["experiment=shapes"]).eval.attribution.n_images >= 100
    assert make_config(["experiment=colormnist"]).get("eval") is None  # the default stays cheap (16 images)
    assert make_config(["run_dir=x"], name="evaluate").eval.attribution.n_images is None  # leaves it to the run


def test_the_experiments_attribution_options_win_over_the_eval_defaults_and_the_command_line_over_both():
    """A null in configs/eval leaves the choice to the experiment (shapes_resnet's TorchRay tolerance), else the
    code default; evaluate.py's own overrides win over both."""
    from types import SimpleNamespace

    from iin.evaluation import options_with_defaults
    from iin.evaluation.attribution import settings

    def resolved(train_overrides, eval_overrides):
        options = options_with_defaults(make_config(["run_dir=r", *eval_overrides], name="evaluate").eval)
        ctx = SimpleNamespace(cfg=make_config(train_overrides), option=lambda key, default=None: options.get(key, default))
        return settings(ctx)

    shapes = resolved(["experiment=shapes_resnet"], [])
    assert (shapes["pointing_tolerance"], shapes["n_sanity"], shapes["n_images"]) == (4.29, 2, 48)
    assert shapes["methods"]["Occlusion"] == {"window": 8, "stride": 4}
    assert resolved(["experiment=shapes_resnet"], ["eval.attribution.n_sanity=3"])["n_sanity"] == 3
    plain = resolved(["experiment=colormnist"], [])
    assert (plain["pointing_tolerance"], plain["n_sanity"], plain["n_steps"], plain["n_images"]) == (1, 4, 32, 16)
