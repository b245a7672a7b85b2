"""Frechet distance in oracle features: zero for identical sets, grows with noise, deterministic, registry."""
from __future__ import annotations

import pytest
import torch

from iin.backbones.tiny import TinyCNN
from iin.evaluation import options_with_defaults
from iin.evaluation.context import EvalContext
from iin.evaluation.frechet import frechet_metrics
from iin.metrics.frechet import FrechetReference, OracleFeatures, frechet_distance


@pytest.fixture(scope="module")
def features() -> OracleFeatures:
    torch.manual_seed(0)
    return OracleFeatures(TinyCNN(width=8, hidden=32).eval())


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    # smooth random blobs: structured images, not noise
    return torch.nn.functional.interpolate(torch.rand(300, 3, 4, 4, generator=g), size=32, mode="bilinear")


def test_features_accept_torchmetrics_probe(features):
    probe = torch.randint(0, 255, (1, 3, 299, 299), dtype=torch.uint8)
    assert features(probe).shape == (1, 32)
    assert torch.allclose(features(probe), features(probe.float() / 255), atol=1e-5)


def test_distance_of_set_to_itself_is_zero(features, images):
    assert frechet_distance(images, images, features) == pytest.approx(0.0, abs=1e-6)


def test_distance_grows_with_noise(features, images):
    g = torch.Generator().manual_seed(2)
    reference = FrechetReference(images, features)
    noisy = [reference.distance((images + s * torch.randn(images.shape, generator=g)).clamp(0, 1))
             for s in (0.05, 0.2, 0.5)]
    assert noisy[0] < noisy[1] < noisy[2]
    assert reference.distance(images) == pytest.approx(0.0, abs=1e-6)  # real statistics survive reset


def test_distance_is_deterministic(features, images):
    assert frechet_distance(images[:150], images[150:], features) == frechet_distance(images[:150], images[150:], features)


def test_too_few_images_is_a_clear_error(features, images):
    with pytest.raises(ValueError, match="at least 2 images"):
        frechet_distance(images[:1], images, features)


def copy_of_test(ctx, n):
    return ctx.subset(n)[0]  # the reference set itself


def untrained(ctx, n):
    return None  # a set whose stage is absent: left out


def test_section_references_and_sets_added_by_config(smoke_run):
    options = options_with_defaults({"frechet_samples": 64})
    options.frechet_sets["test/copy_of_test"] = f"{__name__}.copy_of_test"
    options.frechet_sets["test/untrained"] = f"{__name__}.untrained"
    ctx = EvalContext(smoke_run, options)
    out = frechet_metrics(ctx)
    assert "Inception" in out["note"] and out["n_images"] == 64
    assert out["test/copy_of_test"] == pytest.approx(0.0, abs=1e-6) and "test/untrained" not in out
    assert out["noise"] > max(out["train"], out["autoencoder_reconstructions"], out["autoencoder_samples"])
    assert {"invariances/block2", "concepts/@autoencoder/color"} <= set(out)  # per-run families (smoke trains both)
    assert (ctx.figures / "frechet.png").is_file()
