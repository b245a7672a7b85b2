"""One builder per mode: its controls and outputs, wired to a handler through `Page.wire`."""
from __future__ import annotations

import gradio as gr

from ..attribution import METHODS
from ..targets import is_layer
from . import handlers

NONE = "none"  # attribution without invariance samples beside it


def _image(label: str, elem_id: str) -> gr.Image:
    return gr.Image(label=label, format="png", interactive=False, elem_id=elem_id)


def _outputs(prefix: str, **images: str) -> list:
    """A mode's images side by side (element id `<prefix>-<name>`, captioned) and its text: the handler's outputs."""
    with gr.Row():
        shown = [_image(caption, f"{prefix}-{name}") for name, caption in images.items()]
    return [*shown, gr.Markdown(elem_id=f"{prefix}-text")]


def _seed(prefix: str) -> tuple[gr.Number, gr.Button]:
    seed = gr.Number(0, precision=0, label="seed", elem_id=f"{prefix}-seed", min_width=80)
    button = gr.Button("Resample", elem_id=f"{prefix}-resample", size="sm")
    button.click(lambda s: int(s or 0) + 1, seed, seed)  # a new seed; seed.change then recomputes
    return seed, button


def _layer(page, prefix: str, extra: tuple[str, ...] = ()) -> gr.Radio:
    layers = page.explorer.layers
    default = next((l for l in layers if is_layer(l)), layers[0]) if layers else extra[0]
    return gr.Radio([*layers, *extra], value=default, label="layer", elem_id=f"{prefix}-layer")


def _n(prefix: str, value: int, maximum: int = 16, label: str = "samples") -> gr.Slider:
    return gr.Slider(1, maximum, value=value, step=1, label=label, elem_id=f"{prefix}-n")


def invariances(page, tab) -> None:
    ex = page.explorer
    with gr.Row():
        layer, n = _layer(page, "inv"), _n("inv", ex.settings["samples"])
        seed, _ = _seed("inv")
    outputs = _outputs("inv", samples="what the layer cannot tell apart from A",
                       recon="A and its reconstruction through the layer")
    fn = lambda x, l, k, s: ex.call(handlers.invariances, x, l, int(k), int(s))  # noqa: E731
    page.wire("invariances", tab, fn, [page.a, layer, n, seed], outputs,
              [layer.change, n.change, seed.change])


def layer_profile(page, tab) -> None:
    ex = page.explorer
    with gr.Row():
        n = _n("profile", ex.settings["profile_samples"], maximum=8)
        seed, _ = _seed("profile")
    outputs = _outputs("profile", rows="one row per layer: A, then samples of what the layer cannot tell apart")
    fn = lambda x, k, s: ex.call(handlers.layer_profile, x, int(k), int(s))  # noqa: E731
    page.wire("layer profile", tab, fn, [page.a, n, seed], outputs, [n.change, seed.change])


def mixing(page, tab) -> None:
    ex = page.explorer
    layer = _layer(page, "mix")
    outputs = _outputs("mix", images="A, B, A's representation with B's invariances, B's with A's")
    fn = lambda a, b, l: ex.call(handlers.mixing, a, b, l)  # noqa: E731
    page.wire("mixing", tab, fn, [page.a, page.b, layer], outputs, [layer.change])


def adversarial(page, tab) -> None:
    ex = page.explorer
    with gr.Row():
        layer = _layer(page, "adv")
        eps = gr.Slider(0.0, 0.5, value=ex.settings["fgsm_eps"], step=0.01, label="FGSM epsilon", elem_id="adv-eps")
        n = _n("adv", ex.settings["samples"])
        seed, _ = _seed("adv")
    outputs = _outputs("adv", rows="top: A, samples given Phi(A); bottom: A_adv, samples given Phi(A_adv)",
                       images="A, A_adv, reconstruction of A_adv")
    fn = lambda x, l, e, k, s: ex.call(handlers.adversarial, x, l, float(e), int(k), int(s))  # noqa: E731
    page.wire("adversarial", tab, fn, [page.a, layer, eps, n, seed], outputs,
              [layer.change, eps.change, n.change, seed.change])


def concepts(page, tab) -> None:
    ex = page.explorer
    targets = ex.concept_targets
    with gr.Row():
        target = gr.Radio(targets, value=targets[0], label="target", elem_id="concept-target")
        factor = gr.Radio(ex.factors(targets[0]), value=ex.factors(targets[0])[0], label="factor",
                          elem_id="concept-factor")
        action = gr.Radio(list(handlers.ACTIONS), value="swap", label="edit (swap and interpolate take B as donor)",
                          elem_id="concept-action")
    with gr.Row():
        n = _n("concept", ex.settings["samples"], maximum=12, label="steps / resamples")
        t = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="interpolation t (which step is charted)",
                      elem_id="concept-t")
        seed, _ = _seed("concept")
    outputs = _outputs("concept", images="A, then its edits", chart="the model's logits before and after")

    def fn(x, donor, tgt, f, act, k, tt, s):
        f = f if f in ex.factors(tgt) else ex.factors(tgt)[0]  # the factor radio may lag a target change
        codes = ex.pool_codes(tgt, f) if act == "resample" else None
        return ex.call(handlers.concepts, x, donor, tgt, f, act, int(k), float(tt), int(s), codes)

    target.change(lambda tgt: gr.Radio(ex.factors(tgt), value=ex.factors(tgt)[0]), target, factor)
    page.wire("concepts", tab, fn, [page.a, page.b, target, factor, action, n, t, seed], outputs,
              [target.change, factor.change, action.change, n.change, t.change, seed.change])


def attribution(page, tab) -> None:
    ex = page.explorer
    with gr.Row():
        method = gr.Radio(list(METHODS), value="GradCAM", label="method", elem_id="attr-method")
        layer = _layer(page, "attr", extra=(NONE,))
    with gr.Row():
        n = _n("attr", ex.settings["samples"])
        seed, _ = _seed("attr")
    outputs = _outputs("attr", overlay="A and the map of the predicted class over it",
                       samples="what the layer cannot tell apart from A")
    fn = lambda x, m, l, k, s: ex.attribution(x, m, None if l == NONE else l, int(k), int(s))  # noqa: E731
    page.wire("attribution", tab, fn, [page.a, method, layer, n, seed], outputs,
              [method.change, layer.change, n.change, seed.change])


MODE_TABS = [("invariances", invariances), ("layer profile", layer_profile), ("mixing", mixing),
             ("adversarial", adversarial), ("concepts", concepts), ("attribution", attribution)]
