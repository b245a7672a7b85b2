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

# Small sample counts for every section, so that one evaluation of the smoke run takes seconds.
def copy_run(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    """A run directory's config, checkpoints, timings and evaluation outputs, without `skip` stages."""
    dst.mkdir(parents=True)
    for path in src.iterdir():
        if path.is_file() and path.stem not in skip and path.suffix in (".yaml", ".pt", ".json", ".html"):
            shutil.copy2(path, dst / path.name)
    if (src / "figures").is_dir():
        shutil.copytree(src / "figures", dst / "figures")
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
    """A copy of the smoke run, evaluated once (metrics.json, figures, report.html)."""
    run_dir = copy_run(smoke_run.root, tmp_path_factory.mktemp("evaluated") / "smoke")
    run_evaluate(run_dir)
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
    for key in [k for k in metrics if k not in ("missing", "timing")]:
        assert f'<section id="{key}">' in html, key
    assert (evaluated / "figures" / "frechet.png").is_file() and not (evaluated / "figures.staging").exists()


def test_evaluate_twice_gives_identical_metrics(evaluated):
    """Determinism: timing comes from training (timing.json); attribution's seconds_per_image is exempt."""
    first = json.loads((evaluated / "metrics.json").read_text())
    assert without_timings(first) == without_timings(run_evaluate(evaluated))


@pytest.mark.slow
def test_full_evaluation_with_every_section_is_deterministic(smoke_run, tmp_path):
    run_dir = copy_run(smoke_run.root, tmp_path / "smoke")
    first = run_evaluate(run_dir, skip=())
    assert "attribution" in first and without_timings(first) == without_timings(run_evaluate(run_dir, skip=()))


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
PROBE = """<script>window.__errors=[];var _e=console.error;console.error=function(){
window.__errors.push([].join.call(arguments,' '));_e.apply(console,arguments)};
window.addEventListener('error',function(ev){window.__errors.push('error: '+(ev.message||
(ev.target&&ev.target.outerHTML||'').slice(0,80)))},true);
window.addEventListener('load',function(){var p=document.createElement('pre');p.id='iin-check';
p.textContent=JSON.stringify({images:[].map.call(document.images,function(i){return [i.alt,i.naturalWidth]}),
errors:window.__errors});document.body.appendChild(p)});</script>"""


def chromium() -> str | None:
    """$CHROMIUM, else the first of chromium / chromium-browser / google-chrome on PATH."""
    names = [os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"]
    return next((found for name in names if name and (found := shutil.which(name))), None)


def open_in_chromium(html_path: Path, profile: Path) -> tuple[dict, str]:
    """Load a page with a probe in headless Chromium: ({images: [[alt, naturalWidth]], errors}, stderr)."""
    import re
    import subprocess

    probed = html_path.with_name("probed.html")
    probed.write_text(html_path.read_text().replace("<head>", "<head>" + PROBE, 1))
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    found = re.search(r'<pre id="iin-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not run; chromium stderr: {done.stderr[-2000:]}"
    import html as html_lib

    return json.loads(html_lib.unescape(found.group(1))), done.stderr


def test_report_in_headless_chromium(synthetic_run, tmp_path):
    """Every <img> decodes (naturalWidth > 0) and the console stays clean; a broken page is caught."""
    if chromium() is None:
        reason = "no chromium on PATH (nor $CHROMIUM); install it with: apt-get install -y chromium"
        print(f"SKIP reason: {reason}")
        pytest.skip(reason)
    report = build_report(synthetic_run)
    result, stderr = open_in_chromium(report, tmp_path / "profile")
    assert len(result["images"]) == 8 and all(width > 0 for _, width in result["images"]), result["images"]
    assert result["errors"] == [] and ":CONSOLE" not in stderr, (result["errors"], stderr[-2000:])
    broken = tmp_path / "broken.html"  # the check itself must be able to fail
    broken.write_text(report.read_text().replace("</body>", '<img src="nowhere.png" alt="x"><script>'
                                                             'console.error("boom")</script></body>'))
    bad, bad_stderr = open_in_chromium(broken, tmp_path / "profile")
    assert ["x", 0] in bad["images"] and "boom" in bad["errors"] and ":CONSOLE" in bad_stderr


def test_invariance_layers_follow_the_network_order(synthetic_run):
    metrics = {"invariances": {name: {"reencode_cosine": 0.5} for name in ("logits", "penultimate", "@image")}}
    (synthetic_run / "metrics.json").write_text(json.dumps(metrics))
    (synthetic_run / "config.yaml").write_text("invariance:\n  layers: [penultimate, logits, '@image']\n")
    html = build_report(synthetic_run).read_text()
    assert html.index("<h3>layer penultimate") < html.index("<h3>layer logits") and "<h3>layer @image" not in html
