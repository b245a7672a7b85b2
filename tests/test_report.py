"""report.html from metrics and figures; evaluate.py end to end: missing stages, corrupt checkpoints, determinism."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from conftest import run_evaluate
from iin.checkpoint import CheckpointError
from iin.report import build_report
from iin.viz import bar_chart, save_grid


def copy_run(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    """A run directory's config, checkpoints (top level and per layer/target folders), timings and evaluation
    outputs, without `skip` stages; caches and logs stay behind."""
    dst.mkdir(parents=True)
    for path in src.iterdir():
        if path.is_file() and path.stem not in skip and path.suffix in (".yaml", ".pt", ".json", ".html"):
            shutil.copy2(path, dst / path.name)
        elif path.is_dir() and path.name not in skip and path.name in ("invariances", "concepts", "figures"):
            shutil.copytree(path, dst / path.name)
    return dst


def without_timings(metrics: dict) -> str:
    """The metrics as canonical JSON, minus the wall times of evaluation (sections, attribution's seconds_per_image)."""
    metrics["timing"] = {k: v for k, v in metrics.get("timing", {}).items() if not k.startswith("evaluate/")}
    for method in (metrics.get("attribution") or {}).values():
        if isinstance(method, dict):
            method.pop("seconds_per_image", None)
    return json.dumps(metrics, sort_keys=True)


@pytest.fixture(scope="module")
def evaluated(smoke_run, tmp_path_factory) -> Path:
    """A copy of the smoke run, evaluated once with every section (metrics.json, figures, report.html)."""
    run_dir = copy_run(smoke_run.root, tmp_path_factory.mktemp("evaluated") / "smoke")
    run_evaluate(run_dir, skip=())
    return run_dir


SYNTHETIC = {
    "classifier": {"test_accuracy": 0.98}, "oracle": {"digit_accuracy": 0.99},
    "autoencoder": {"recon_mse": 0.01, "preservation": {"digit": 0.9, "color": 1.0}},
    "invariances": {"block2": {"reencode_cosine": 0.8, "invariance": {"color": 0.1}},
                    "@image": {"reencode_cosine": 0.97}, "@label": {"reencode_cosine": 0.4}},
    "attack": {"success_rate": 0.5}, "concepts": {"penultimate": {"swap": {"color": {"accuracy": 0.9}}}},
    "frechet": {"noise": 30.0, "train": 0.1, "note": "no Inception here"},
    "attribution": {"rise": {"deletion": 0.2, "insertion": 0.7, "seconds_per_image": 0.5}, "notes": "a note"},
    "zhang": {"filter_entropy": 1.5}, "brand_new": {"<script>alert(1)</script>": 1},
    "missing": [{"section": "later", "needs": ["stage_x"]}], "timing": {"classifier": 3.0},
}


@pytest.fixture()
def synthetic_run(tmp_path) -> Path:
    """A run directory with hand-written metrics of every section and one figure per section (plus an unknown one)."""
    (tmp_path / "metrics.json").write_text(json.dumps(SYNTHETIC))
    g = torch.Generator().manual_seed(0)
    for stem in ("invariances_block2", "invariances_profile", "attack_grid", "concepts_swap_penultimate_color",
                 "attribution_rise", "zhang_filters", "mystery"):
        save_grid(torch.rand(4, 3, 8, 8, generator=g), tmp_path / "figures" / f"{stem}.png", nrow=2)
    bar_chart({"noise": 30.0, "train": 0.1}, tmp_path / "figures" / "frechet.png")
    return tmp_path


def test_report_has_every_section_embedded_and_escaped(synthetic_run):
    html = build_report(synthetic_run).read_text()
    for title in ("Summary", "Classifier", "Invariances", "Attack analysis", "Concepts", "Frechet distance",
                  "Attribution baselines", "Zhang", "brand_new", "Other figures", "Stage timings", "Missing"):
        assert f"<h2>{title}" in html, title
    assert html.count('src="data:image/png;base64,') == 8 and "src=\"figures/" not in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "stage_x" in html and "a note" in html and "no Inception here" in html
    assert html.index("<h2>Invariances") < html.index("invariances_block2") < html.index("<h2>Attack")
    assert html.index("<h2>Concepts") < html.index("concepts_swap_penultimate_color") < html.index("<h2>Frechet")
    assert "http://" not in html and "https://" not in html  # nothing external


def test_report_leaves_out_absent_sections(synthetic_run):
    metrics = {k: v for k, v in SYNTHETIC.items() if k in ("classifier", "missing")}
    (synthetic_run / "metrics.json").write_text(json.dumps(metrics))
    shutil.rmtree(synthetic_run / "figures")
    html = build_report(synthetic_run).read_text()
    assert "<h2>Classifier" in html and "<h2>Invariances" not in html and "<h2>Frechet" not in html


def test_evaluate_writes_metrics_figures_and_report(evaluated):
    metrics = json.loads((evaluated / "metrics.json").read_text())
    html = (evaluated / "report.html").read_text()
    assert {"invariances", "attack", "concepts", "frechet", "attribution"} <= set(metrics), metrics["missing"]
    for key in [k for k in metrics if k not in ("missing", "timing")]:
        assert f'<section id="{key}">' in html, key
    assert (evaluated / "figures" / "frechet.png").is_file() and not (evaluated / "figures.staging").exists()


def test_evaluate_twice_gives_identical_metrics(evaluated):
    """Determinism: timing comes from training (timing.json); attribution's seconds_per_image is exempt."""
    first = json.loads((evaluated / "metrics.json").read_text())
    assert "attribution" in first and without_timings(first) == without_timings(run_evaluate(evaluated, skip=()))


def test_missing_stage_is_reported_and_the_rest_written(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run.root, tmp_path / "smoke", skip=("autoencoder",))
    metrics = run_evaluate(run_dir)
    missing = {m["section"] for m in metrics["missing"]}
    assert {"autoencoder", "frechet"} <= missing and "classifier" in metrics
    assert (run_dir / "metrics.json").is_file() and "frechet" in (run_dir / "report.html").read_text().lower()


def test_corrupt_checkpoint_names_file_and_touches_nothing(evaluated, tmp_path):
    run_dir = copy_run(evaluated, tmp_path / "smoke")
    (run_dir / "oracle.pt").write_bytes(b"not a checkpoint")
    before = {p: p.read_bytes() for p in (run_dir / "metrics.json", run_dir / "report.html")}
    figures = sorted((run_dir / "figures").iterdir())
    with pytest.raises(CheckpointError, match="oracle.pt"):
        run_evaluate(run_dir)
    assert all(p.read_bytes() == data for p, data in before.items())
    assert sorted((run_dir / "figures").iterdir()) == figures and not (run_dir / "figures.staging").exists()


# --- a real browser ----------------------------------------------------------------------------------
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH = 1400  # the page must fit a 1400 px wide window
INSPECT = """() => ({
  scrollWidth: document.documentElement.scrollWidth,
  figures: [...document.querySelectorAll('figure')].map(f => ({alt: f.querySelector('img').alt,
    width: f.querySelector('img').naturalWidth, caption: (f.querySelector('figcaption') || {}).textContent || ''})),
  summary: [...document.querySelectorAll('#summary figure img')].map(i => i.alt),
  findings: document.querySelectorAll('#summary li').length,
  glossary: [...document.querySelectorAll('#glossary code')].map(c => c.textContent),
  overflowing: [...document.querySelectorAll('table, figure, p, ul')].filter(
    e => e.getBoundingClientRect().right > document.documentElement.clientWidth).map(e => e.tagName),
})"""


def inspect_pages(paths: list[Path]) -> list[dict]:
    """Open each page in headless Chromium at 1400 px and read what the checks need, plus console errors."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"headless Chromium is required for the report test and was not found at {CHROMIUM}: install it "
                    "(apt-get install -y chromium) or point $CHROMIUM at a Chromium binary", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the report test drives Chromium with the python package playwright: pip install -e '.[dev]'",
                    pytrace=False)
    found = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for path in paths:
                page = browser.new_page(viewport={"width": WIDTH, "height": 900})
                errors: list[str] = []
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.on("pageerror", lambda err: errors.append(str(err)))
                page.goto(path.resolve().as_uri(), wait_until="load")
                found.append({**page.evaluate(INSPECT), "errors": errors})
                page.close()
        finally:
            browser.close()
    return found


def flat_keys(metrics: dict) -> list[str]:
    """metrics.json's leaf keys as flattened paths ('invariances/block2/invariance/color')."""
    from iin.report.html import flatten

    return list(flatten(metrics))


def report_problems(seen: dict, metrics: dict) -> list[str]:
    """Everything the acceptance check asks of a rendered report, as a list of failures (empty: all good)."""
    from iin.report.glossary import matches

    problems = [f"figure {f['alt']} has a caption of {len(f['caption'].split())} words" for f in seen["figures"]
                if len(f["caption"].split()) < 10]
    problems += [f"figure {f['alt']} does not decode" for f in seen["figures"] if f["width"] == 0]
    problems += [f"metric {k} has no glossary entry on the page" for k in flat_keys(metrics)
                 if not any(matches(p, k) for p in seen["glossary"])]
    if "invariances_profile" not in seen["summary"]:
        problems.append("the summary does not show the layer profile")
    if seen["scrollWidth"] > WIDTH or seen["overflowing"]:
        problems.append(f"horizontal overflow at {WIDTH} px: {seen['scrollWidth']} px, {seen['overflowing']}")
    return problems + [f"console: {e}" for e in seen["errors"]]


def test_report_of_the_smoke_run_in_headless_chromium(evaluated, tmp_path):
    """Captions of ten words or more, a glossary entry on the page for every metric key, the layer profile in the
    summary, no horizontal overflow at 1400 px; a page broken in each of these ways is caught."""
    from iin.report.captions import FALLBACK

    metrics = json.loads((evaluated / "metrics.json").read_text())
    report = evaluated / "report.html"
    broken = tmp_path / "broken.html"
    broken.write_text(report.read_text().replace("</body>", '<figure><img src="nowhere.png" alt="x"><figcaption>'
                                                 'too short</figcaption></figure><div style="width:2000px">w</div>'
                                                 "<script>console.error('boom')</script></body>"))
    seen, bad = inspect_pages([report, broken])
    assert report_problems(seen, metrics) == []
    assert seen["findings"] >= 3 and len(seen["figures"]) == len(list((evaluated / "figures").glob("*.png")))
    assert not [f["alt"] for f in seen["figures"] if f["caption"].startswith(FALLBACK.split("'")[0])]
    bad_metrics = {**metrics, "brand_new_section": {"mystery_metric": 1.0}}
    problems = " | ".join(report_problems(bad, bad_metrics))
    for failure in ("figure x has a caption of 2 words", "figure x does not decode", "brand_new_section/mystery_metric",
                    "horizontal overflow", "console: boom"):
        assert failure in problems, failure


def test_glossary_covers_every_metric_the_evaluation_writes(evaluated):
    """Every flattened key of a full evaluation (attribution included), and of the zhang section, has an entry."""
    from iin.report.glossary import entry

    keys = flat_keys(json.loads((evaluated / "metrics.json").read_text())) + flat_keys({"zhang": ZHANG})
    assert "attribution/RISE/deletion_auc" in keys and "concepts/penultimate/swap/color/accuracy" in keys
    assert [k for k in keys if entry(k) is None] == []
    assert entry("invariances/block2/invariance/color").better == "neither" and entry("frechet/train").pattern == "frechet/train"
    assert entry("attribution/RISE/deletion_auc_ci").pattern.endswith("<metric>_ci") and entry("no/such/key") is None


# What section `zhang` writes (iin/zhang/evaluate.py cnn_metrics and graph_metrics, iin/evaluation/zhang.py):
# the smoke run trains no zhang stage.
_ZHANG_SEED = {kind: {"location_instability": 0.1, "part_iou": 0.2, "part_mean_iou": 0.1, "accuracy": 0.9,
                      "filters_per_part": {"head": 0.4, "body": 0.3, "tail": 0.3}} for kind in ("ordinary", "icnn")}
_ZHANG_SEED.update({"graph": {"location_instability": 0.1}, "filters": {"location_instability": 0.2},
                    "localization": {"graph": 0.1, "raw_filter": 0.2, "ridge": 0.3}})
ZHANG = {**_ZHANG_SEED, "per_seed": {"0": _ZHANG_SEED}, "setup": {"shots": 3, "draws": 10, "seeds": [0]}}


def test_report_names_the_run_by_its_current_path(evaluated, tmp_path):
    moved = copy_run(evaluated, tmp_path / "moved" / "elsewhere")
    html = build_report(moved).read_text()
    assert str(moved.resolve()) in html and str(evaluated.resolve()) not in html


def test_report_command_line(capsys):
    """`python -m iin.report --help` and a directory that was never evaluated (one line, exit status 2)."""
    from iin.report.__main__ import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "RUN_DIR" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["/nonexistent/run"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "metrics.json does not exist" in err and len(err.strip().splitlines()) == 1


def test_invariance_layers_follow_the_network_order(synthetic_run):
    metrics = {"invariances": {name: {"reencode_cosine": 0.5} for name in ("logits", "penultimate", "@image")}}
    (synthetic_run / "metrics.json").write_text(json.dumps(metrics))
    (synthetic_run / "config.yaml").write_text("invariance:\n  layers: [penultimate, logits, '@image']\n")
    html = build_report(synthetic_run).read_text()
    header = html[html.index('<section id="invariances">'):]
    assert header.index("<th>@image</th>") < header.index("<th>penultimate</th>") < header.index("<th>logits</th>")


def test_findings_are_generated_from_the_numbers(tmp_path):
    """With paper-like numbers the summary says which layer keeps colour, where invariance appears, and that a
    colour swap at an invariant layer is expected to stay near chance while one at @autoencoder transfers."""
    from iin.report import render_report

    layer = lambda inv_color, pres_color: {"invariance": {"color": inv_color, "digit": 0.05},  # noqa: E731
                                           "preservation": {"color": pres_color, "digit": 0.95}, "reencode_cosine": 0.9,
                                           "reencode_cosine_ae": 0.95, "reencode_cosine_random": 0.3}
    metrics = {"classifier": {"test_accuracy": 0.98}, "oracle": {"digit_accuracy": 0.99},
               "invariances": {"@image": layer(0.0, 1.0), "block2": layer(0.1, 0.9), "penultimate": layer(0.9, 0.15),
                               "@label": layer(0.95, 0.13)},
               "concepts": {"penultimate": {"swap": {"color": {"accuracy": 0.17, "keep": 0.9}}},
                            "block2": {"swap": {"color": {"accuracy": 0.2, "keep": 0.9}}},
                            "@autoencoder": {"swap": {"color": {"accuracy": 0.8, "keep": 0.9}}}},
               "frechet": {"train": 1.0, "noise": 300.0, "autoencoder_reconstructions": 5.0,
                           "invariances/penultimate": 12.0}}
    (tmp_path / "config.yaml").write_text("invariance:\n  layers: [block2, penultimate]\n"
                                          "data:\n  num_classes: 10\n  options:\n    n_colors: 8\n")
    html = render_report(metrics, tmp_path)
    summary = html[html.index('<section id="summary">'):html.index('<section id="classifier">')]
    assert "<b>color</b> is kept by block2 (invariance 0.1, preservation 0.9)" in summary
    assert "ignored by penultimate (invariance 0.9, preservation 0.15)" in summary
    assert "Invariance to color appears at penultimate (calibrations: @image 0, @label 0.95)" in summary
    assert "No trained layer is invariant to digit" in summary and "98%" in summary
    assert "Swapping color at penultimate transfers it in 17% of the edits (chance 1/8 = 12.5%): near chance, " \
           "as expected: penultimate is invariant to color" in summary
    assert "Swapping color at @autoencoder transfers it in 80% of the edits (chance 1/8 = 12.5%): well above " \
           "chance" in summary
    assert "Swapping color at block2 transfers it in 20% of the edits (chance 1/8 = 12.5%): above chance, the " \
           "factor is partly transplanted" in summary
    assert "penultimate 12; references: 1 (training images, near), 5 (round trips" in summary
