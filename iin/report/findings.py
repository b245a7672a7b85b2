"""The summary: the layer profile, then sentences generated from the numbers (what a reader should take away)."""
from __future__ import annotations

from html import escape
from typing import Any, Mapping

from ..targets import CALIBRATION, is_layer
from .facts import Facts
from .figures import Figures
from .sections import is_number, layer_columns

KEEPS, IGNORES = 1 / 3, 2 / 3  # invariance below: the layer keeps the factor; above: it ignores it


def _g(value: Any) -> str:
    return f"{value:.3g}" if is_number(value) else "n/a"


def _pct(share: Any) -> str:
    """A share in [0, 1] as a percentage."""
    return f"{100 * share:.3g}%" if is_number(share) else "n/a"


def model_findings(metrics: Mapping[str, Any]) -> list[str]:
    acc = (metrics.get("classifier") or {}).get("test_accuracy")
    oracle = {k: v for k, v in (metrics.get("oracle") or {}).items() if is_number(v)}
    if acc is None and not oracle:
        return []
    text = f"The model under study classifies {_pct(acc)} of the test images correctly" if acc is not None else ""
    for key, value in oracle.items():
        text += f"{'; t' if text else 'T'}he oracle that reads the factors off images reaches {_pct(value)} ({escape(key)})"
        if value < 0.9:
            text += ", too low to trust the readout-based metrics (preservation, invariance, swap)"
    return [text + "."]


def factor_finding(inv: Mapping[str, Any], layers: list[str], factor: str) -> str:
    """Which layers keep the factor, which ignore it, where invariance appears, and the calibration levels."""
    vals = {l: inv[l]["invariance"][factor] for l in layers if factor in (inv[l].get("invariance") or {})}
    pres = {l: (inv[l].get("preservation") or {}).get(factor) for l in vals}
    show = lambda ls: ", ".join(f"{escape(l)} (invariance {_g(vals[l])}, preservation {_g(pres[l])})" for l in ls)  # noqa: E731
    keep = [l for l, v in vals.items() if v < KEEPS]
    ignore = [l for l, v in vals.items() if v > IGNORES]
    middle = [l for l in vals if l not in keep and l not in ignore]
    parts = [f"kept by {show(keep)}" if keep else "", f"ignored by {show(ignore)}" if ignore else "",
             f"partly invariant at {show(middle)}" if middle else ""]
    text = f"<b>{escape(factor)}</b> is " + "; ".join(p for p in parts if p)
    first = next((l for l in vals if vals[l] > 0.5), None)
    if first is not None:
        text += f". Invariance to {escape(factor)} appears at {escape(first)}"
    elif vals:
        top = max(vals, key=vals.get)
        text += f". No trained layer is invariant to {escape(factor)} (highest invariance {_g(vals[top])} at {escape(top)})"
    cal = [f"{c} {_g(inv[c]['invariance'][factor])}" for c in CALIBRATION
           if factor in ((inv.get(c) or {}).get("invariance") or {})]
    return text + (f" (calibrations: {', '.join(cal)})" if cal else "") + "."


def invariance_findings(inv: Mapping[str, Any], facts: Facts) -> list[str]:
    layers = [c for c in layer_columns(inv, facts.layers) if is_layer(c)]
    factors = list(dict.fromkeys(f for l in layers for f in (inv[l].get("invariance") or {})))
    return [factor_finding(inv, layers, f) for f in factors]


def quality_findings(metrics: Mapping[str, Any], facts: Facts) -> list[str]:
    """Re-encoding cosine against its round-trip and random-image references; Frechet distance of the samples."""
    inv, out = metrics.get("invariances") or {}, []
    layers = layer_columns(inv, facts.layers)
    cos = [f"{escape(l)} {_g(inv[l].get('reencode_cosine'))} (round trip {_g(inv[l].get('reencode_cosine_ae'))}, random "
           f"image {_g(inv[l].get('reencode_cosine_random'))})" for l in layers if "reencode_cosine" in inv[l]]
    if cos:
        out.append("Samples re-encode to the representation of their input with cosine " + "; ".join(cos)
                   + ": higher is better, the autoencoder round trip is the ceiling and a random other image the floor.")
    fd = metrics.get("frechet") or {}
    sets = [f"{escape(l)} {_g(fd[f'invariances/{l}'])}" for l in layers if is_number(fd.get(f"invariances/{l}"))]
    refs = [(k, label) for k, label in (("train", "training images, near"), ("autoencoder_reconstructions",
            "round trips, the decoder's limit"), ("noise", "uniform noise, far")) if is_number(fd.get(k))]
    if sets:
        out.append("Frechet distance of the samples to the test images: " + ", ".join(sets) + "; references: "
                   + ", ".join(f"{_g(fd[k])} ({label})" for k, label in refs) + ". Lower is closer to real images.")
    return out


def swap_findings(metrics: Mapping[str, Any], facts: Facts) -> list[str]:
    """Swap accuracy against chance 1/K, with the reason where near chance is the expected result."""
    inv, out = metrics.get("invariances") or {}, []
    for target, m in (metrics.get("concepts") or {}).items():
        for factor, swap in ((m or {}).get("swap") or {}).items() if isinstance(m, Mapping) else ():
            acc, chance = swap.get("accuracy"), facts.chance(factor)
            if not is_number(acc):
                continue
            text = f"Swapping {escape(factor)} at {escape(target)} transfers it in {_pct(acc)} of the edits"
            if chance is None:
                out.append(text + ".")
                continue
            text += f" (chance {facts.chance_label(factor)})"
            level = ((inv.get(target) or {}).get("invariance") or {}).get(factor)
            if acc >= max(2 * chance, 0.5):
                out.append(text + ": well above chance, the factor is transplanted.")
            elif acc >= 1.5 * chance:
                out.append(text + ": above chance, the factor is partly transplanted.")
            elif is_number(level) and level > 0.5:
                out.append(text + f": near chance, as expected: {escape(target)} is invariant to {escape(factor)} "
                           f"(invariance {_g(level)}), so the edited image takes its {escape(factor)} from x's own "
                           "invariances v. Swap at @autoencoder to change what the image shows.")
            else:
                out.append(text + ": near chance, the factor is not transplanted.")
    return out


def attribution_findings(metrics: Mapping[str, Any]) -> list[str]:
    data = metrics.get("attribution") or {}
    methods = {k: v for k, v in data.items() if isinstance(v, Mapping) and k not in ("random", "edge")}
    out = []
    for key, best, word in (("deletion_auc", min, "lowest"), ("insertion_auc", max, "highest")):
        scored = {n: m[key] for n, m in methods.items() if is_number(m.get(key))}
        if scored:
            name = best(scored, key=scored.get)
            ref = (data.get("random") or {}).get(key)
            out.append(f"Attribution: {escape(name)} has the {word} {key.replace('_', ' ').replace('auc', 'AUC')} "
                       f"({_g(scored[name])}; the random map {_g(ref)}).")
    return out


def zhang_findings(metrics: Mapping[str, Any]) -> list[str]:
    data, out = metrics.get("zhang") or {}, []
    inst = {k: (data.get(k) or {}).get("location_instability") for k in ("ordinary", "icnn", "graph", "filters")}
    if is_number(inst["icnn"]) and is_number(inst["ordinary"]):
        out.append(f"Interpretable CNN: location instability {_g(inst['icnn'])} against {_g(inst['ordinary'])} for "
                   "the ordinary CNN (lower: filters fire on the same part).")
    if is_number(inst["graph"]) and is_number(inst["filters"]):
        out.append(f"Explanatory graph: its nodes' location instability is {_g(inst['graph'])} against "
                   f"{_g(inst['filters'])} for raw filters.")
    loc = {k: v for k, v in (data.get("localization") or {}).items() if is_number(v)}
    if loc:
        out.append("Few-shot part localisation error (lower is better): "
                   + ", ".join(f"{escape(k)} {_g(v)}" for k, v in loc.items()) + ".")
    return out


def summary(metrics: Mapping[str, Any], figs: Figures, facts: Facts) -> str:
    """The layer profile figure, then the findings as a list, then what was not evaluated."""
    profile = figs.take("invariances_profile") or "<p>No layer profile: the invariance section did not run.</p>"
    items = [*model_findings(metrics), *invariance_findings(metrics.get("invariances") or {}, facts),
             *quality_findings(metrics, facts), *swap_findings(metrics, facts), *attribution_findings(metrics),
             *zhang_findings(metrics)]
    missing = [str(m.get("section")) for m in metrics.get("missing") or [] if isinstance(m, Mapping)]
    if missing:
        items.append("Not evaluated (a stage they need is not trained): " + escape(", ".join(missing)) + ".")
    return profile + '<ul class="findings">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
