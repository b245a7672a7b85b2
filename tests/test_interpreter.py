"""The Interpreter API on the smoke run: return shapes, devices, examples, edits by example, and every bad input
of the reliability probes 49-64 as one APIError line that names the method."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from iin import Interpreter
from iin.backbones import UnknownLayerError
from iin.errors import APIError, LayerError

WALK = "penultimate@unsupervised"
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def interp(smoke_run) -> Interpreter:
    return Interpreter.load(smoke_run.root)


@pytest.fixture(scope="module")
def xy(interp):
    x, factors = interp.examples(6, seed=0)
    return x, factors["label"]


def residual(interp: Interpreter) -> int:
    return interp.dinn(WALK).factor_dims["residual"]


def test_every_method_follows_the_shape_rule(interp, xy):
    x, y = xy
    k, shape = interp.num_classes, tuple(x.shape[1:])
    per_input = {  # one image per input: (B, C, H, W), logits (B, K)
        "reconstruct": interp.reconstruct(x, "block2"),
        "mix": interp.mix(x, x.flip(0), "penultimate"),
        "swap": interp.swap(x, x.flip(0), "color"),
        "swap on a layer": interp.swap(x, x.flip(0), "color", target="penultimate"),
        "set": interp.set(x, "digit", interp.value_of(x[:2], "digit")),
    }
    for name, edit in per_input.items():
        assert edit.images.shape == (6, *shape) and edit.logits.shape == (6, k), name
    several = {  # n per input: (B, n, C, H, W), logits (B, n, K), also for n = 1
        3: interp.sample_invariances(x, "block2", n=3),
        1: interp.sample_invariances(x, "@label", n=1, labels=y),
        5: interp.interpolate(x, x.flip(0), "digit", steps=5, target="penultimate"),
        4: interp.resample(x, "color", n=4),
        2: interp.walk(x, torch.zeros(residual(interp)), steps=2, target=WALK),
    }
    for n, edit in several.items():
        assert edit.images.shape == (6, n, *shape) and edit.logits.shape == (6, n, k), n
        assert 0 <= edit.images.min() and edit.images.max() <= 1


def test_edits_keep_their_meaning(interp, xy):
    x, _ = xy
    samples = interp.sample_invariances(x, "block2", n=3).images
    assert not torch.equal(samples[:, 0], samples[:, 1])
    same = interp.set(x, "digit", interp.factors(x, "penultimate")["digit"], "penultimate")
    assert torch.allclose(same.logits, interp.classifier(x), atol=1e-3)  # T^-1(T(z)) fed back through the model
    strip = interp.interpolate(x, x.flip(0), "color", steps=3)
    assert torch.allclose(strip.logits[:, 0], interp.swap(x, x, "color").logits, atol=1e-4)  # starts at x's value
    drawn = interp.resample(x[:2], "color", n=3, target="penultimate", pool=x[5:])  # a one-image pool
    swapped = interp.swap(x[:2].repeat_interleave(3, 0), x[5:].expand(6, -1, -1, -1), "color", "penultimate")
    assert torch.allclose(drawn.logits.flatten(0, 1), swapped.logits, atol=1e-5)  # (2, 3, K) -> (6, K)


def test_values_chosen_by_example(interp, xy):
    x, _ = xy
    donor = interp.set(x, "color", donor=x[5:])
    assert torch.allclose(donor.logits, interp.swap(x, x[5:].expand(6, -1, -1, -1), "color").logits, atol=1e-5)
    by_value = interp.set(x, "color", interp.value_of(x[3:], "color"))
    assert torch.allclose(by_value.images, interp.set(x, "color", donor=x[3:]).images)
    per_image = interp.factors(x.flip(0), "@autoencoder")["color"]  # (B, d): one value per image
    assert torch.allclose(interp.set(x, "color", per_image).images, interp.swap(x, x.flip(0), "color").images, atol=1e-5)


def test_inputs_in_every_form_give_the_same_result(interp, xy):
    x, _ = xy
    x8 = (x * 255).round().to(torch.uint8)
    ref = interp.sample_invariances(x8.float() / 255, "block2", n=2).images
    for form in (x8, x8.numpy(), (x8.double() / 255), (x8.double() / 255).numpy()):
        assert torch.allclose(interp.sample_invariances(form, "block2", n=2).images, ref, atol=1e-6), type(form)
    assert interp.sample_invariances(x[:1], "block2").images.shape[:2] == (1, 8)  # batch size 1


def test_examples_are_seeded_and_shuffled(interp):
    x, f = interp.examples(40, split="test", seed=0)
    again, _ = interp.examples(40, split="test", seed=0)
    other, _ = interp.examples(40, split="test", seed=1)
    assert torch.equal(x, again) and not torch.equal(x, other)
    digits = f["digit"].tolist()
    assert digits != sorted(digits) and len(set(digits)) >= 5  # the test split itself is sorted by digit
    assert set(f) >= {"label", "digit", "color"} and all(v.shape == (40,) for v in f.values())
    assert x.shape == (40, *interp.image_shape) and 0 <= x.min() and x.max() <= 1
    with pytest.raises(APIError, match="examples: split 'val' is not one of the splits"):
        interp.examples(4, split="val")
    with pytest.raises(APIError, match="examples: n=100000 but the test split has"):
        interp.examples(100000)


def test_examples_read_the_dataset_item_by_item(smoke_run):
    """Any dataset with len() and items {"image", factors...} will do: no `.images` tensor is needed."""
    interp = Interpreter.load(smoke_run.root)
    items = [{"image": torch.full((3, 32, 32), i / 20), "label": torch.tensor(i % 10), "index": torch.tensor(i),
              "mask": torch.zeros(1, 32, 32), "shape": i % 3} for i in range(20)]
    interp._datasets["test"] = items
    x, f = interp.examples(5, seed=3)
    picked = torch.randperm(20, generator=torch.Generator().manual_seed(3))[:5]
    assert set(f) == {"label", "shape"} and f["shape"].tolist() == (picked % 3).tolist()
    assert torch.equal(x[:, 0, 0, 0], picked.float() / 20)


def test_to_device_round_trip(smoke_run, xy):
    x, _ = xy
    a = Interpreter.load(smoke_run.root, device="cpu")
    ref = a.swap(x, x.flip(0), "color").images
    assert a.to("cpu") is a and a.device == torch.device("cpu")
    assert {p.device.type for n in ("classifier", "autoencoder") for p in getattr(a, n).parameters()} == {"cpu"}
    assert torch.equal(a.swap(x, x.flip(0), "color").images, ref)
    with pytest.raises(APIError, match="to: device 'gpu' is not a torch device"):
        a.to("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(APIError, match="torch sees no CUDA device here"):
            Interpreter.load(smoke_run.root, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(smoke_run, xy):
    x, _ = xy
    cpu = Interpreter.load(smoke_run.root)
    gpu = Interpreter.load(smoke_run.root, device="cuda")
    s_cpu, s_gpu = cpu.sample_invariances(x, "block2", n=2), gpu.sample_invariances(x, "block2", n=2)  # CPU input
    assert s_gpu.images.device.type == "cuda" and torch.allclose(s_gpu.images.cpu(), s_cpu.images, atol=1e-4)
    assert torch.allclose(gpu.resample(x, "color", n=2).images.cpu(), cpu.resample(x, "color", n=2).images, atol=1e-4)
    back = gpu.to("cpu")
    assert all(p.device.type == "cpu" for net in back._nets.values() for p in net.parameters())


def test_an_edit_without_a_decoder_says_so(interp, xy, monkeypatch):
    x, _ = xy
    monkeypatch.setattr(Interpreter, "layers", property(lambda self: ["block2"]))  # as if penultimate's cINN were missing
    edit = interp.swap(x, x.flip(0), "color", target="penultimate")
    assert not edit.has_images and edit.logits.shape == (6, interp.num_classes)
    with pytest.raises(APIError, match="swap: target 'penultimate' edits layer 'penultimate', which has no trained"):
        edit.images


def _bad(x):
    """The probes 49-64 of the reliability list: (call, words the one-line error must contain)."""
    nan = x.clone()
    nan[1, 0, 0, 0] = float("nan")
    return {
        "49 size": (lambda i: i.sample_invariances(torch.rand(2, 3, 64, 64), "block2"),
                    r"sample_invariances: x must be images \(B, 3, 32, 32\), got shape \(2, 3, 64, 64\)$"),
        "49 one image": (lambda i: i.sample_invariances(x[0], "block2"), r"for a single image pass x\[None\]"),
        "49 channels": (lambda i: i.swap(x[:, :1], x[:, :1], "color"), r"swap: x must be images \(B, 3, 32, 32\)"),
        "49 channels last": (lambda i: i.logits(x.permute(0, 2, 3, 1)), r"permute\(0, 3, 1, 2\)"),
        "50 nan": (lambda i: i.sample_invariances(nan, "block2"), r"x contains NaN or inf in 1 image\(s\) .*\[1\]"),
        "50 inf y": (lambda i: i.swap(x, x + float("inf"), "color"), "swap: y contains NaN or inf"),
        "50 nan pool": (lambda i: i.resample(x, "color", pool=nan), "resample: pool contains NaN or inf"),
        "51 0..255": (lambda i: i.sample_invariances(x * 255, "block2"), r"x must be in \[0, 1\], got values in \[0, 255"),
        "51 swap 0..255": (lambda i: i.swap(x, x * 255, "color"), r"swap: y must be in \[0, 1\]"),
        "51 negative": (lambda i: i.logits(x - 5), r"logits: x must be in \[0, 1\], got values in \[-5, -4\]"),
        "52 int64": (lambda i: i.sample_invariances((x * 255).long(), "block2"), "dtype torch.int64; pass float"),
        "53 list": (lambda i: i.sample_invariances(x.tolist(), "block2"), "must be a torch tensor or numpy array"),
        "55 empty": (lambda i: i.sample_invariances(x[:0], "block2"), r"empty batch \(0 images\)"),
        "56 factor": (lambda i: i.swap(x, x, "colour"), r"swap: target '@autoencoder' has no factor 'colour'; factors"),
        "57 target": (lambda i: i.swap(x, x, "color", target="block9"), "no concept INN for target 'block9'.*trained"),
        "58 n=0": (lambda i: i.sample_invariances(x, "block2", n=0), "sample_invariances: n must be an integer >= 1, got 0"),
        "58 n=-1": (lambda i: i.resample(x, "color", n=-1), "resample: n must be an integer >= 1, got -1"),
        "58 n=2.0": (lambda i: i.sample_invariances(x, "block2", n=2.0), "n must be an integer >= 1, got 2.0"),
        "58 steps=0": (lambda i: i.interpolate(x, x, "color", steps=0), "interpolate: steps must be an integer >= 1"),
        "58 walk steps": (lambda i: i.walk(x, torch.zeros(residual(i)), steps=0, target=WALK), "walk: steps must be"),
        "59 swap 2x": (lambda i: i.swap(x[:3], x, "color"), r"swap: y has 6 images but x has 3; .* len\(y\) must equal"),
        "60 swap short": (lambda i: i.swap(x, x[:2], "color"), "swap: y has 2 images but x has 6"),
        "60 interpolate": (lambda i: i.interpolate(x, x[:2], "color"), "interpolate: y has 2 images but x has 6"),
        "60 mix": (lambda i: i.mix(x, x[:2], "block2"), "mix: x_inv has 2 images but x_repr has 6"),
        "61 label 99": (lambda i: i.sample_invariances(x[:4], "@label", labels=[0, 1, 2, 99]),
                        r"labels must be in \[0, 10\) for this run's 10 classes, got 99 at index 3"),
        "61 label count": (lambda i: i.reconstruct(x, "@label", labels=[0, 1]), "labels must be 6 integer class labels"),
        "62 direction": (lambda i: i.walk(x, torch.zeros(3), target=WALK),
                         r"walk: direction \(the residual of 'penultimate@unsupervised', size \d+\) must have shape"),
        "63 set value": (lambda i: i.set(x, "color", torch.zeros(999)),
                         r"set: the value of factor 'color' \(size \d+\) must have shape \(\d+,\) or \(6, \d+\), got \(999,\)"),
        "63 set both": (lambda i: i.set(x, "color", torch.zeros(3), donor=x), "give exactly one of value"),
        "63 set donor": (lambda i: i.set(x, "color", donor=x * 2), r"set: donor must be in \[0, 1\]"),
    }


@pytest.mark.parametrize("case", sorted(_bad(torch.zeros(6, 3, 32, 32))))
def test_bad_input_is_one_clear_line(interp, xy, case):
    call, words = _bad(xy[0])[case]
    with pytest.raises(APIError, match=words) as err:
        call(interp)
    assert "\n" not in str(err.value)


def test_unknown_layers_and_run_dirs(interp, xy, tmp_path):
    x, _ = xy
    for layer in ("block9", "block1"):  # not a layer; a layer without a trained cINN
        with pytest.raises(UnknownLayerError, match=rf"no invariance cINN for layer '{layer}'.*trained layers"):
            interp.sample_invariances(x, layer)
    with pytest.raises(LayerError):
        interp.reconstruct(x, "block9")
    with pytest.raises(APIError, match=r"Interpreter.load: .* is not a run directory \(no config.yaml\)"):
        Interpreter.load(tmp_path / "nothing")


def test_readme_api_examples_run(smoke_run):
    """The README's Python API code blocks run as written (on the smoke run instead of outputs/colormnist)."""
    text = README.read_text()
    start = text.index("## Python API")
    section = text[start: text.index("\n## ", start)]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    assert "interp.swap(x, y, \"color\", target=\"@autoencoder\")" in code
    scope = {"direction": torch.zeros(residual(Interpreter.load(smoke_run.root)))}
    exec(code.replace('"outputs/colormnist"', repr(str(smoke_run.root))), scope)  # noqa: S102 - our own README
    assert scope["edit"].images.shape == (4, 3, 32, 32)
