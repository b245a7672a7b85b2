"""Seconds per image of every attribution method, and ours against the reference implementations.

    python bench/attribution.py [--run-dir outputs/colormnist] [--threads N]

Prints JSON: `<Method>.seconds_per_image` at fixed settings, and for RISE (vs a naive one-mask-at-a-time
loop), LIME (vs the `lime` package at equal samples and superpixels) and GradCAM (vs `grad-cam`):
`<method>.ours_s`, `<method>.reference_s`, `<method>.speedup` (seconds per image). Ours and the reference are
timed alternately (best of `REPEATS` after a warm-up each) so that other load on the machine hits both alike.
LIME: the `lime` package runs with batch_size equal to ours (`LIME.reference_batch_size`) and the eager model
as a user would pass it; `LIME.reference_default_batch_s` is lime at its default batch_size 10, and
`LIME.reference_our_forward_s` gives lime our TorchScript-frozen forward (isolating the rest of the engine),
`LIME.distinct_images` is the number of forwards per explanation after exact de-duplication and
`LIME.ours_forwards_only_s` times those forwards alone (the floor of ours at this forward speed).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from iin.attribution import METHODS, RISE, GradCAM, superpixels
from iin.attribution.superpixels import compose, distinct_images
from iin.attribution.surrogate import LIME
from iin.backbones import TinyCNN
from iin.data import colormnist

SETTINGS = {"RISE": {"n_masks": 4000}, "LIME": {"n_samples": 1000}}  # the acceptance settings
IMAGES = {"RISE": 2, "LIME": 4, "Anchors": 4, "Occlusion": 4}  # fewer images for the slow methods


REPEATS = 3


def seconds(fn, repeats: int = 1, warmup: bool = True) -> float:
    """Best wall time of `repeats` calls (after one warm-up call unless warmup=False)."""
    return side_by_side([fn], repeats, warmup)[0]


def side_by_side(fns: list, repeats: int = REPEATS, warmup: bool = True) -> list[float]:
    """Best wall time of each fn over `repeats` rounds; within a round the fns run one after the other."""
    if warmup:
        for fn in fns:
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def naive_rise(model, rise: RISE, x: torch.Tensor, target: int) -> torch.Tensor:
    """The reference: the same masks, one forward pass per mask."""
    saliency = torch.zeros(1, 1, *x.shape[-2:])
    with torch.inference_mode():
        for chunk in rise.masks(tuple(x.shape[-2:]), x.device):
            for m in chunk:
                saliency += model(x * m).softmax(1)[0, target] * m
    return saliency / (rise.n_masks * rise.p)


def lime_package(classify, image: torch.Tensor, segments: torch.Tensor, target: int, samples: int,
                 batch_size: int) -> None:
    """The `lime` package on the same image, superpixels, label and number of samples (hide_color 0 like ours)."""
    from lime.lime_image import LimeImageExplainer

    LimeImageExplainer(random_state=0).explain_instance(
        image.permute(1, 2, 0).double().numpy(), classify, labels=(target,), top_labels=None, hide_color=0,
        num_samples=samples, batch_size=batch_size, segmentation_fn=lambda _img: segments.numpy())


def numpy_classifier(forward):
    """lime's classifier_fn: (n, H, W, C) numpy images -> (n, classes) softmax probabilities."""
    def classify(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return forward(torch.from_numpy(batch).permute(0, 3, 1, 2).float()).softmax(1).numpy()
    return classify


def lime_times(model, x: torch.Tensor, out: dict) -> None:
    """Ours against the `lime` package per image (summed over images), 1,000 samples, equal batch size."""
    lime = LIME(model, **SETTINGS["LIME"])
    eager, ours_forward = numpy_classifier(model), numpy_classifier(lime.inference(x[:1]))
    with torch.no_grad():
        targets = model(x).argmax(1).tolist()
    totals, distinct = np.zeros(5), 0
    for image, t in zip(x, targets):
        seg = superpixels(image, lime.n_segments)
        batch = distinct_batch(lime, image, seg)
        distinct += len(batch)
        totals += side_by_side([lambda: lime.explain(image, t, seg),
                                lambda: lime_package(eager, image, seg, t, lime.n_samples, lime.batch_size),
                                lambda: lime_package(eager, image, seg, t, lime.n_samples, 10),
                                lambda: lime_package(ours_forward, image, seg, t, lime.n_samples, lime.batch_size),
                                lambda: forwards_only(lime.inference(image[None]), batch, lime.batch_size)])
    ours, reference, default_batch, our_forward, forwards = totals / len(x)
    compare("LIME", ours, reference, out)
    out.update({"LIME.images": len(x), "LIME.n_samples": lime.n_samples, "LIME.reference_batch_size": lime.batch_size,
                "LIME.reference_default_batch_s": default_batch, "LIME.reference_our_forward_s": our_forward,
                "LIME.distinct_images": distinct / len(x), "LIME.ours_forwards_only_s": forwards})


def distinct_batch(lime: LIME, image: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """The distinct perturbed images (U, C, H, W) that one explanation pushes through the model."""
    z = lime.samples(int(segments.max()) + 1, image.device)
    patterns, _ = distinct_images(image, segments, z, lime.baseline)
    return compose(image, segments, patterns, lime.baseline)


def forwards_only(forward, batch: torch.Tensor, batch_size: int) -> None:
    """Just the model forwards of one LIME explanation (its floor): the rest of ours is sampling and the fit."""
    with torch.inference_mode():
        for chunk in batch.split(batch_size):
            forward(chunk)


def compare(name: str, ours: float, reference: float, out: dict) -> None:
    out.update({f"{name}.ours_s": ours, f"{name}.reference_s": reference, f"{name}.speedup": reference / ours})


def references(model, x: torch.Tensor, out: dict) -> None:
    """RISE, LIME and GradCAM against their references, seconds per image."""
    rise = RISE(model, **SETTINGS["RISE"])
    naive = seconds(lambda: naive_rise(model, rise, x[:1], 0), warmup=False)
    compare("RISE", seconds(lambda: rise.attribute(x[:1], 0)), naive, out)
    start = time.process_time()
    rise.attribute(x[:1], 0)
    out["RISE.ours_cpu_s"] = time.process_time() - start  # CPU seconds: robust to other load with --threads 1
    lime_times(model, x[:IMAGES["LIME"]], out)
    compare("GradCAM", *gradcam_times(model, x), out)


def gradcam_times(model, x: torch.Tensor) -> tuple[float, float]:
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    ours = GradCAM(model, layer="block3.2")
    targets = [ClassifierOutputTarget(0)] * len(x)
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model.block3[2]]) as cam:
        reference = seconds(lambda: cam(input_tensor=x, targets=targets), repeats=5)
    return seconds(lambda: ours.attribute(x, 0), repeats=5) / len(x), reference / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default="outputs/colormnist", help="a trained run (else an untrained TinyCNN)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = Path(args.run_dir)
    if (run_dir / "classifier.pt").is_file():
        from iin.run import Run

        model = Run(run_dir).classifier()
    else:
        model = TinyCNN().eval()  # same architecture and cost as the colormnist classifier
    x = colormnist("test").images[:8]
    out: dict = {"model": str(run_dir) if (run_dir / "classifier.pt").is_file() else "untrained TinyCNN",
                 "threads": torch.get_num_threads(), "loadavg_1min_before": os.getloadavg()[0]}
    for name, cls in METHODS.items():
        n = IMAGES.get(name, 8)
        method = cls(model, **SETTINGS.get(name, {}))
        out[f"{name}.seconds_per_image"] = seconds(lambda: method.attribute(x[:n])) / n
    references(model, x, out)
    out["loadavg_1min_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
