"""One renderer per metrics key: (metrics of that key, figures) -> HTML body; unknown keys get `generic`."""
from __future__ import annotations

from fnmatch import fnmatch
from html import escape
from typing import Any, Callable, Mapping

from .figures import Figures
from .html import flatten, nested_table, note, table

Renderer = Callable[[Any, Figures], str]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def generic(data: Any, figs: Figures, key: str = "") -> str:
    """A nested table of whatever the section holds, then its `<key>_*` figures."""
    body = nested_table(data) if isinstance(data, Mapping) else table([[data]])
    return body + (figs.take(key) + figs.take_prefix(f"{key}_") if key else "")


def _layer_table(data: Mapping[str, Any], layer: str, calibrations: list[str]) -> str:
    """One layer's metrics with the calibration representations' values beside them."""
    columns = [flatten(data[layer])] + [flatten(data[c]) for c in calibrations]
    rows = [[key] + [col.get(key, "") for col in columns] for key in columns[0]]
    return table(rows, ["metric", layer, *calibrations])


def invariances(data: Mapping[str, Any], figs: Figures) -> str:
    """Per layer: the sample grid and its metrics beside @image/@label; then the layer profile."""
    maps = [k for k, v in data.items() if isinstance(v, Mapping)]
    calibrations = [k for k in maps if k.startswith("@")]
    layers = list(data.get("layers") or [k for k in maps if not k.startswith("@")])
    parts = [f"<h3>layer {escape(str(layer))}</h3>" + figs.take(f"invariances_{layer}") + _layer_table(data, layer, calibrations)
             for layer in layers if layer in data]
    parts += [f"<h3>calibration {escape(c)}</h3>" + figs.take(f"invariances_{c}") for c in calibrations
              if f"invariances_{c}" in figs.paths]
    rest = {k: v for k, v in data.items() if k not in layers and k not in calibrations and k != "layers"}
    profile = figs.take("invariances_profile")
    extra = nested_table(rest) if rest else ""
    return "".join(parts) + ("<h3>layer profile</h3>" + profile if profile else "") + extra + figs.take_prefix("invariances_")


def concepts(data: Mapping[str, Any], figs: Figures) -> str:
    """Per target representation: its metric table and the `concepts_*` figures that name it."""
    parts = []
    for target, metrics in data.items():
        if isinstance(metrics, Mapping):
            parts.append(f"<h3>{escape(str(target))}</h3>" + nested_table(metrics) + figs.take_mentioning("concepts_", target))
    rest = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    return "".join(parts) + (nested_table(rest) if rest else "") + figs.take_prefix("concepts_")


def frechet(data: Mapping[str, Any], figs: Figures) -> str:
    """Distances to the test images, smallest first, with the note on the feature space."""
    distances = sorted(((k, v) for k, v in data.items() if _is_number(v) and k != "n_images"), key=lambda kv: kv[1])
    info = {k: v for k, v in data.items() if not _is_number(v) and k != "note"}
    head = note(data["note"]) if "note" in data else ""
    count = f"<p>{int(data['n_images'])} images per set.</p>" if "n_images" in data else ""
    return head + count + table(distances, ["images vs test", "Frechet distance"]) + \
        (nested_table(info) if info else "") + figs.take("frechet") + figs.take_prefix("frechet_")


ATTRIBUTION_COLUMNS = ["deletion", "insertion", "pointing", "sanity", "seconds"]  # column order, by key prefix


def attribution(data: Mapping[str, Any], figs: Figures) -> str:
    """One row per method (deletion, insertion, pointing game, sanity, seconds), then notes and figures."""
    methods = {k: flatten(v) for k, v in data.items() if isinstance(v, Mapping) and k != "notes"}
    keys = list(dict.fromkeys(k for m in methods.values() for k in m))
    rank = [next((i for i, c in enumerate(ATTRIBUTION_COLUMNS) if k.startswith(c)), len(ATTRIBUTION_COLUMNS))
            for k in keys]  # deletion_auc before insertion_auc ... before unknown keys
    columns = [k for _, k in sorted(zip(rank, keys), key=lambda rk: rk[0])]
    rows = [[name] + [m.get(c, "") for c in columns] for name, m in methods.items()]
    rest = {k: v for k, v in data.items() if k not in methods and k != "notes"}
    return (table(rows, ["method", *columns]) + (nested_table(rest) if rest else "")
            + (note(data["notes"]) if "notes" in data else "") + figs.take_prefix("attribution_"))


RENDERERS: dict[str, Renderer] = {
    "invariances": invariances, "concepts": concepts, "frechet": frechet, "attribution": attribution,
}
TITLES = {"classifier": "Classifier (model under study)", "oracle": "Oracle", "autoencoder": "Autoencoder",
          "invariances": "Invariances", "attack": "Attack analysis", "concepts": "Concepts",
          "frechet": "Frechet distance", "attribution": "Attribution baselines", "zhang": "Zhang: interpretable CNN"}
ORDER = ["classifier", "oracle", "autoencoder", "invariances", "attack", "concepts", "frechet", "attribution", "zhang"]

# Summary: the key numbers per section (glob patterns over flattened metric names); else the first few.
SUMMARY = {"classifier": ["test_accuracy"], "oracle": ["*_accuracy"], "autoencoder": ["recon_mse", "preservation/*"],
           "invariances": ["*/prediction_agreement", "*/invariance/*"], "concepts": ["*/swap/*/accuracy"],
           "frechet": ["noise", "train", "autoencoder_*", "invariances*"], "attribution": ["*/deletion*", "*/insertion*"],
           "attack": ["*success*", "*accuracy*"], "zhang": ["*"]}


def summary_rows(metrics: Mapping[str, Any], keys: list[str], limit: int = 6) -> list[list[Any]]:
    """(section, metric, value) rows: the section's SUMMARY patterns, or its first scalars."""
    rows: list[list[Any]] = []
    for key in keys:
        flat = {k: v for k, v in flatten(metrics[key]).items() if _is_number(v)}
        patterns = SUMMARY.get(key, ["*"])
        picked = [k for k in flat if any(fnmatch(k, p) for p in patterns)] or list(flat)
        rows += [[TITLES.get(key, key), k, flat[k]] for k in picked[:limit]]
    return rows
