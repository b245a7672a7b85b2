"""One renderer per metrics key: (metrics of that key, figures, run facts) -> HTML body; unknown keys get `generic`."""
from __future__ import annotations

from html import escape
from typing import Any, Callable, Mapping

from ..targets import profile_order
from .facts import Facts
from .figures import Figures
from .html import Html, NumHtml, flatten, fmt, glossary_link, nested_table, note, table

Renderer = Callable[[Any, Figures, Facts], str]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def generic(data: Any, figs: Figures, key: str = "") -> str:
    """A nested table of whatever the section holds (linked to the glossary), then its `<key>_*` figures."""
    body = nested_table(data, key) if isinstance(data, Mapping) else table([[data]])
    return body + (figs.take(key) + figs.take_prefix(f"{key}_") if key else "")


def layer_columns(data: Mapping[str, Any], order: list[str]) -> list[str]:
    """@image, the model layers in network order, @label: from "nothing invariant" to "only the class"."""
    maps = [k for k, v in data.items() if isinstance(v, Mapping)]
    return profile_order([l for l in order if l in maps] + [l for l in maps if l not in order])


def by_layer(data: Mapping[str, Any], columns: list[str], group: str, caption: str) -> str:
    """Factors x layers for one metric group (`invariance`, `preservation`)."""
    factors = list(dict.fromkeys(f for c in columns for f in (data[c].get(group) or {})))
    rows = [[f] + [data[c].get(group, {}).get(f, "") for c in columns] for f in factors]
    head = [glossary_link(f"invariances/{columns[0]}/{group}/{factors[0]}", "factor") if factors else "factor"]
    return table(rows, head + columns, caption) if factors else ""


def invariances(data: Mapping[str, Any], figs: Figures, facts: Facts) -> str:
    """Factors x layers for invariance and preservation, the other metrics x layers, then the grid per layer."""
    columns = layer_columns(data, facts.layers)
    scalars = list(dict.fromkeys(k for c in columns for k, v in data[c].items() if is_number(v)))
    rows = [[glossary_link(f"invariances/{columns[0]}/{k}", k)] + [data[c].get(k, "") for c in columns] for k in scalars]
    parts = [
        by_layer(data, columns, "invariance", "invariance: 0 = the layer encodes the factor, 1 = it ignores it"),
        by_layer(data, columns, "preservation", "preservation: share of samples that keep the input's factor "
                 f"({facts.chance_text()})"),
        table(rows, ["metric", *columns], "other metrics per layer (see the glossary for directions)"),
        figs.take("invariances_profile"),
    ]
    parts += [f"<h3>{'calibration' if c.startswith('@') else 'layer'} {escape(c)}</h3>" + figs.take(f"invariances_{c}")
              for c in columns if f"invariances_{c}" in figs.paths]
    return "".join(parts) + figs.take_prefix("invariances_")


def attack(data: Mapping[str, Any], figs: Figures, facts: Facts) -> str:
    """The attack's settings and accuracies, clean vs attacked explained variance per layer, the figures."""
    scalars = [[glossary_link(f"attack/{k}", k), v] for k, v in data.items() if not isinstance(v, Mapping)]
    ev = data.get("explained_variance") or {}
    rows = [[layer, v.get("clean", ""), v.get("attacked", "")] for layer, v in ev.items()]
    head = ["layer", glossary_link("attack/explained_variance/l/clean", "clean"), "attacked"]
    return (table(scalars, ["metric", "value"]) + (table(rows, head, "share of Var(zbar) the invariances explain")
                                                  if rows else "") + figs.take_prefix("attack_"))


def _factor_table(target: str, metrics: Mapping[str, Any], facts: Facts) -> str:
    """Rows: the target's factors; columns: every per-factor metric (swap split into accuracy and keep)."""
    per_factor = {k: v for k, v in metrics.items() if isinstance(v, Mapping) and k != "swap"}
    for f, s in (metrics.get("swap") or {}).items():
        for part, value in s.items():
            per_factor.setdefault(f"swap/{part}", {})[f] = value
    factors = list(dict.fromkeys(f for v in per_factor.values() for f in v))
    if not factors:
        return ""
    chance = [facts.chance_label(f) for f in factors]
    cols = list(per_factor)
    rows = [[f] + [per_factor[c].get(f, "") for c in cols] + ([chance[i]] if "swap/accuracy" in per_factor else [])
            for i, f in enumerate(factors)]
    head = ["factor"] + [glossary_link(f"concepts/{target}/{c}/{factors[0]}" if "/" not in c
                                       else f"concepts/{target}/swap/{factors[0]}/{c.split('/')[1]}", c) for c in cols]
    return table(rows, head + (["swap chance"] if "swap/accuracy" in per_factor else []),
                 f"per factor of {target}: its codes, dimensions, swaps and the model's response (see the glossary)")


CONCEPT_FIGURES = ("swap", "interp", "response", "walk")  # the edits first, then what the model makes of them


def concepts(data: Mapping[str, Any], figs: Figures, facts: Facts) -> str:
    """Per target: its factors x metrics table, its scalars, and the `concepts_*` figures that name it."""
    parts = []
    for target, metrics in data.items():
        if not isinstance(metrics, Mapping):
            continue
        scalars = [[glossary_link(f"concepts/{target}/{k}", k), v] for k, v in metrics.items() if is_number(v)]
        shown = "".join(figs.take_mentioning(f"concepts_{kind}_", target) for kind in CONCEPT_FIGURES)
        parts.append(f"<h3>{escape(str(target))}</h3>" + _factor_table(target, metrics, facts)
                     + (table(scalars, ["metric", "value"]) if scalars else "") + shown)
    rest = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    return "".join(parts) + (nested_table(rest, "concepts") if rest else "") + figs.take_prefix("concepts_")


def frechet(data: Mapping[str, Any], figs: Figures, facts: Facts) -> str:
    """Distances to the test images, smallest first, with the note on the feature space."""
    distances = sorted(((k, v) for k, v in data.items() if is_number(v) and k != "n_images"), key=lambda kv: kv[1])
    info = {k: v for k, v in data.items() if not is_number(v) and k != "note"}
    head = note(data["note"]) if "note" in data else ""
    count = f"<p>{int(data['n_images'])} images per set.</p>" if "n_images" in data else ""
    rows = [[glossary_link(f"frechet/{k}", k), v] for k, v in distances]
    return head + count + table(rows, ["images vs test", "Frechet distance (lower is closer)"]) + \
        (nested_table(info, "frechet") if info else "") + figs.take("frechet") + figs.take_prefix("frechet_")


def _with_ci(m: Mapping[str, Any], key: str) -> Any:
    """A value with its bootstrap interval below it, or '' when absent."""
    if key not in m:
        return ""
    ci = m.get(f"{key}_ci")
    low_high = f"<br><small>[{fmt(ci[0])}, {fmt(ci[1])}]</small>" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
    return NumHtml(fmt(m[key]) + low_high)


def _ranks(methods: Mapping[str, Mapping[str, Any]], key: str, lower_better: bool) -> dict[str, int]:
    scored = sorted((m[key], name) for name, m in methods.items() if is_number(m.get(key)))
    return {name: i + 1 for i, (_, name) in enumerate(scored if lower_better else scored[::-1])}


BASELINES = ("random", "edge")


def attribution(data: Mapping[str, Any], figs: Figures, facts: Facts) -> str:
    """Methods ranked by deletion AUC (then insertion), with both ranks; random and edge maps as reference rows."""
    methods = {k: v for k, v in data.items() if isinstance(v, Mapping) and k not in BASELINES}
    baselines = {k: data[k] for k in BASELINES if isinstance(data.get(k), Mapping)}
    deletion, insertion = _ranks(methods, "deletion_auc", True), _ranks(methods, "insertion_auc", False)
    order = sorted(methods, key=lambda n: (deletion.get(n, 1e9), insertion.get(n, 1e9)))
    keys = ("deletion_auc", "insertion_auc", "pointing_game", "sanity_spearman")
    rows = [[name, deletion.get(name, ""), insertion.get(name, "")] + [_with_ci(methods[name], k) for k in keys]
            + [methods[name].get("seconds_per_image", "")] for name in order]
    rows += [[Html(f"<i>{escape(name)} map (reference)</i>"), "", ""] + [_with_ci(m, k) for k in keys] + [""]
             for name, m in baselines.items()]
    link = next(iter(methods), "random")
    head = ["method", "deletion rank", "insertion rank"] + [
        glossary_link(f"attribution/{link}/{k}", label) for k, label in zip(keys, (
            "deletion AUC (lower is better)", "insertion AUC (higher is better)", "pointing game (higher)",
            "sanity Spearman (near 0)"))] + [glossary_link(f"attribution/{link}/seconds_per_image", "s / image")]
    caption = "methods ranked by deletion AUC, ties by insertion AUC; 95% bootstrap intervals below each value"
    rest = {k: v for k, v in data.items() if k not in methods and k not in baselines and k != "notes"}
    notes = str(data.get("notes") or "")
    listed = "".join(f"<li>{escape(n)}</li>" for n in notes.split("; ") if n)  # one method per line
    figures = "".join(figs.take(f"attribution_{name}") for name in ATTRIBUTION_FIGURES)
    return (table(rows, head, caption) + (nested_table(rest, "attribution") if rest else "")
            + (f'<div class="note"><ul>{listed}</ul></div>' if listed else "") + figures + figs.take_prefix("attribution_"))


ATTRIBUTION_FIGURES = ("overlays", "sanity", "actmax", "deepdream")  # the maps themselves first


def _columns(data: Mapping[str, Any], names: list[str], prefix: str, caption: str) -> str:
    """Metrics (rows, flattened) x the sub-dicts `names` (columns) that exist in data."""
    cols = [n for n in names if isinstance(data.get(n), Mapping)]
    flat = {n: flatten(data[n]) for n in cols}
    keys = list(dict.fromkeys(k for n in cols for k in flat[n]))
    rows = [[glossary_link(f"{prefix}/{cols[0]}/{k}", k)] + [flat[n].get(k, "") for n in cols] for k in keys]
    return table(rows, ["metric", *cols], caption) if cols else ""


def zhang(data: Mapping[str, Any], figs: Figures, facts: Facts) -> str:
    """Ordinary vs interpretable CNN, graph nodes vs raw filters, localisation; per-seed values folded away."""
    shown = ("ordinary", "icnn", "graph", "filters", "localization", "per_seed", "setup")
    setup = data.get("setup") or {}
    parts = [f"<p>Means over seeds {fmt(setup.get('seeds'))}; {fmt(setup.get('shots'))} shots, "
             f"{fmt(setup.get('draws'))} draws for few-shot localisation.</p>" if setup else "",
             _columns(data, ["ordinary", "icnn"], "zhang", "ordinary vs interpretable CNN (top-layer filters)"),
             _columns(data, ["graph", "filters"], "zhang", "explanatory-graph nodes vs raw filters"),
             table([[glossary_link(f"zhang/localization/{k}", k), v] for k, v in (data.get("localization") or {}).items()],
                   ["units", "few-shot localisation error (lower is better)"]) if data.get("localization") else "",
             nested_table({k: v for k, v in data.items() if k not in shown}, "zhang")
             if any(k not in shown for k in data) else ""]
    if isinstance(data.get("per_seed"), Mapping):
        parts.append("<details><summary>values per seed</summary>" + nested_table(data["per_seed"], "zhang/per_seed")
                     + "</details>")
    return "".join(parts) + figs.take("zhang_filters") + figs.take_prefix("zhang_")


RENDERERS: dict[str, Renderer] = {
    "invariances": invariances, "attack": attack, "concepts": concepts, "frechet": frechet, "attribution": attribution,
    "zhang": zhang,
}
TITLES = {"classifier": "Classifier (model under study)", "oracle": "Oracle", "autoencoder": "Autoencoder",
          "invariances": "Invariances", "attack": "Attack analysis", "concepts": "Concepts",
          "frechet": "Frechet distance", "attribution": "Attribution baselines", "zhang": "Zhang: interpretable CNN"}
ORDER = ["classifier", "oracle", "autoencoder", "invariances", "attack", "concepts", "frechet", "attribution", "zhang"]
