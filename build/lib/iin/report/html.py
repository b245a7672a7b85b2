"""HTML building blocks for the report: escaping, embedded images, tables, sections, the page."""
from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1360px;padding:1em 2em;
color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #333}h2{font-size:1.3em;border-bottom:1px solid #bbb;margin-top:2em}
h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em;max-width:100%}
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td small{color:#666}p.tcap{font-size:.9em;color:#444;margin:1em 0 0}
figure{display:inline-block;margin:.5em 1.5em 1em 0;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #ddd;display:block}
figcaption{font-size:.85em;color:#444;max-width:52em;margin-top:.3em}
.note{background:#fff8e0;border-left:4px solid #e0b000;padding:.4em .8em}
.findings li{margin:.3em 0}.path{font-family:monospace;overflow-wrap:anywhere}
nav{line-height:1.8}nav a{margin-right:1em;white-space:nowrap}.missing li{color:#a00}
a.g{color:inherit;text-decoration:underline dotted}details{margin:.5em 0 1em}summary{cursor:pointer;color:#225}
"""


class Html(str):
    """Markup that is already safe: `fmt` passes it through unescaped."""


class NumHtml(Html):
    """Safe markup of a number (right-aligned like one), e.g. a value with its interval."""


def fmt(value: Any) -> str:
    """A metric value as escaped text: floats to 4 significant digits, containers as JSON."""
    if isinstance(value, Html):
        return value
    if isinstance(value, bool) or value is None:
        return escape(str(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return "[" + ", ".join(fmt(v) for v in value) + "]"  # e.g. a confidence interval
    if isinstance(value, (list, tuple, dict)):
        return escape(json.dumps(value, sort_keys=True))
    return escape(str(value))


def cell(value: Any) -> str:
    """One table cell; numbers right-aligned."""
    num = isinstance(value, NumHtml) or (isinstance(value, (int, float)) and not isinstance(value, bool))
    return f'<td class="num">{fmt(value)}</td>' if num else f"<td>{fmt(value)}</td>"


def table(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None, caption: str | None = None) -> str:
    """A table of already-computed values (each escaped by `fmt`, header cells too), with an optional caption."""
    head = "<tr>" + "".join(f"<th>{fmt(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    title = f'<p class="tcap">{fmt(caption)}</p>' if caption else ""  # as wide as the page, not the table
    return f"{title}<table>{head}{body}</table>"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to {'a/b/c': leaf}; lists stay leaves."""
    if not isinstance(data, Mapping):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return out


def glossary_link(key: str, label: str | None = None) -> Html:
    """The metric's name linked to its glossary row (plain text when the glossary has no entry)."""
    from .glossary import anchor, entry

    found, text = entry(key), escape(label if label is not None else key)
    return Html(f'<a class="g" href="#{anchor(found.pattern)}">{text}</a>' if found else text)


def nested_table(data: Mapping[str, Any], prefix: str = "") -> str:
    """Any nested metrics dict as a two-column table of flattened keys, each linked to the glossary via
    its full key `prefix/key`."""
    rows = [[glossary_link(f"{prefix}/{k}" if prefix else k, k), v] for k, v in flatten(data).items()]
    return table(rows, ["metric", "value"])


def image(path: Path, caption: str | None = None) -> str:
    """A figure with the PNG embedded as a base64 data URI (the report stays self-contained)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    text = escape(caption if caption is not None else path.stem)
    return (f'<figure><img src="data:{mime};base64,{data}" alt="{escape(path.stem)}">'
            f"<figcaption>{text}</figcaption></figure>")


def note(text: Any) -> str:
    """A highlighted paragraph (strings, lists and dicts of notes)."""
    if isinstance(text, Mapping):
        return "".join(note(f"{k}: {v}") for k, v in text.items())
    if isinstance(text, (list, tuple)):
        return "".join(note(t) for t in text)
    return f'<p class="note">{escape(str(text))}</p>'


def section(key: str, title: str, body: str) -> str:
    """An <h2> section with an anchor for the navigation bar."""
    return f'<section id="{escape(key)}"><h2>{escape(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole document: inline CSS, a navigation bar, then the sections (key, title, body)."""
    nav = " ".join(f'<a href="#{escape(k)}">{escape(t)}</a>' for k, t, _ in sections)  # spaces let it wrap
    parts = "".join(section(k, t, b) for k, t, b in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>'
            f"<body><h1>{escape(title)}</h1><p>{fmt(subtitle)}</p><nav>{nav}</nav>{parts}</body></html>\n")
