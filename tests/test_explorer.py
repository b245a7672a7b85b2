"""The explorer in a real browser: Debian's Chromium, headless, driven by Playwright, on the smoke run.

Chromium is required, not optional: without it these tests FAIL (CI installs it in .ci/run). Set
IIN_WRITE_DOCS=1 to also write the README screenshot docs/explorer.png, and IIN_EXPLORER_RUN=<run_dir> to
test a trained run instead of the smoke run.
"""
from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_config
from iin.explore import Explorer
from iin.explore import handlers
from iin.explore.app import build_app, launch
from iin.explore.images import UploadError, load_upload

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 120_000  # generous: the CI machine has 2 shared cores
DOCS = Path(__file__).resolve().parents[1] / "docs"

# per mode: tab, its image outputs, a radio to change (id, choice), a slider to change (id, value), set-up clicks
MODES = [
    ("Invariances", ["inv-samples", "inv-recon"], ("inv-layer", "penultimate"), ("inv-n", 5), []),
    ("Layer profile", ["profile-rows"], None, ("profile-n", 2), []),
    ("Mixing", ["mix-images"], ("mix-layer", "penultimate"), None, []),
    ("Adversarial", ["adv-rows", "adv-images"], ("adv-layer", "penultimate"), ("adv-eps", 0.3), []),
    ("Concepts", ["concept-images", "concept-chart"], ("concept-target", "penultimate"), ("concept-n", 4),
     [("concept-action", "interpolate")]),
    ("Attribution", ["attr-overlay", "attr-samples"], ("attr-layer", "penultimate"), ("attr-n", 3),
     [("attr-method", "Saliency")]),
]


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.fail("Chromium is missing: the explorer's browser tests need Debian's chromium "
                    "(apt-get update && apt-get install -y chromium; .ci/run does this)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(run_dir) -> tuple[object, str]:
    port = free_port()
    app = build_app(Explorer(run_dir))
    launch(app, "127.0.0.1", port, block=False)
    return app, f"http://127.0.0.1:{port}"


# The smoke experiment with an autoencoder that decodes digits (the smoke one decodes flat grey, in which no
# change would show) and cINNs trained long enough for the layer to matter; no oracle (the explorer needs none).
EXPLORER_RUN = ["experiment=smoke", "stages=[classifier,autoencoder,invariances,concepts]", "autoencoder.epochs=10",
                "autoencoder.lr=1e-2", "data.batch_size=64", "invariance.steps=40"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A trained run; IIN_EXPLORER_RUN names another one (e.g. outputs/colormnist for the screenshot)."""
    if os.environ.get("IIN_EXPLORER_RUN"):
        return Path(os.environ["IIN_EXPLORER_RUN"])
    from iin.cli import train

    return train(make_config([*EXPLORER_RUN, f"paths.output_dir={tmp_path_factory.mktemp('explorer')}"])).root


@pytest.fixture(scope="module")
def server(run_dir):
    app, url = serve(run_dir)
    yield url
    app.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """One browser tab on the explorer, recording every request and console error."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.requests, self.errors = [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_selector("#inv-samples img", timeout=WAIT_MS)  # the first mode computed on load

    def src(self, elem_id: str) -> str | None:
        img = self.page.locator(f"#{elem_id} img")
        return img.first.get_attribute("src") if img.count() else None

    def image(self, elem_id: str) -> np.ndarray:
        """The picture an output shows, fetched and decoded: (H, W, 3) uint8."""
        body = self.page.request.get(self.src(elem_id)).body()
        return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))

    def snapshot(self, ids: list[str]) -> dict:
        return {i: self.src(i) for i in ids}

    def wait_new(self, before: dict) -> None:
        """Until one of the outputs shows a new picture (one event updates all of them at once)."""
        self.page.wait_for_function(
            "before => Object.entries(before).some(([id, src]) => "
            "{ const img = document.querySelector('#' + id + ' img'); return img && img.src && img.src !== src; })",
            arg=before, timeout=WAIT_MS)
        self.page.wait_for_timeout(300)  # let the other outputs of the same message render

    def radio(self, elem_id: str, choice: str) -> None:
        self.page.locator(f"#{elem_id} input[value='{choice}']").check()

    def slider(self, elem_id: str, value: float) -> None:
        box = self.page.locator(f"#{elem_id} input[type=number]")
        box.fill(str(value))
        box.press("Tab")

    def gallery(self, k: int) -> None:
        self.page.locator("#gallery .thumbnail-item").nth(k).click()

    def upload(self, path: Path) -> None:
        with self.page.expect_file_chooser() as chooser:
            self.page.locator("#upload").click()
        chooser.value.set_files(str(path))

    def note(self, text: str) -> str:
        self.page.wait_for_function("t => document.querySelector('#note').innerText.includes(t)", arg=text,
                                    timeout=WAIT_MS)
        return self.page.locator("#note").inner_text()


def check_pictures(tab: Tab, ids: list[str], before: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Every output decodes to a picture that is not one flat colour; at least one differs from before."""
    now = {i: tab.image(i) for i in ids}
    for i, pic in now.items():
        assert pic.ndim == 3 and min(pic.shape[:2]) >= 32, (i, pic.shape)
        assert int(pic.max()) - int(pic.min()) > 2, f"{i} is blank"
    if before is not None:
        assert any(before[i].shape != now[i].shape or not np.array_equal(before[i], now[i]) for i in ids), \
            f"{ids} did not change"
    return now


def act(tab: Tab, ids: list[str], pictures, action) -> dict[str, np.ndarray]:
    before = tab.snapshot(ids)
    action()
    tab.wait_new(before)
    return check_pictures(tab, ids, pictures)


def only_local(tab: Tab, url: str) -> None:
    host = urlparse(url).netloc
    foreign = [r for r in tab.requests if not r.startswith(("data:", "blob:")) and urlparse(r).netloc != host]
    assert not foreign, f"requests left 127.0.0.1: {foreign[:5]}"


def test_every_mode_in_the_browser(server, browser):
    tab = Tab(browser, server)
    for k, (name, ids, radio, slider, setup) in enumerate(MODES):
        pictures = None
        if name != "Invariances":  # the first tab is open and computed on load
            pictures = act(tab, ids, None, lambda: tab.page.get_by_role("tab", name=name).click())
        pictures = check_pictures(tab, ids, None) if pictures is None else pictures
        for elem_id, choice in setup:
            pictures = act(tab, ids, pictures, lambda: tab.radio(elem_id, choice))
        pictures = act(tab, ids, pictures, lambda: tab.gallery(k + 2))
        if radio:
            pictures = act(tab, ids, pictures, lambda: tab.radio(*radio))
        if slider:
            pictures = act(tab, ids, pictures, lambda: tab.slider(*slider))
        assert not tab.errors, f"console errors in {name}: {tab.errors}"
    if os.environ.get("IIN_WRITE_DOCS") == "1":
        tab.page.get_by_role("tab", name="Invariances").click()
        tab.page.wait_for_timeout(2000)
        DOCS.mkdir(exist_ok=True)
        tab.page.screenshot(path=str(DOCS / "explorer.png"), full_page=True)
    only_local(tab, server)
    tab.page.close()


def digit(mode: str, size: tuple[int, int]) -> Image.Image:
    """A filled ring on black: an image that is clearly not blank."""
    from PIL import ImageDraw

    image = Image.new(mode, size, 0)
    w, h = size
    ImageDraw.Draw(image).ellipse([w * 0.3, h * 0.2, w * 0.7, h * 0.8], outline="white" if mode == "L" else
                                  (255, 80, 0), width=max(1, w // 12))
    return image


def test_bad_input_one_message_each_and_the_server_survives(server, browser, tmp_path):
    tab = Tab(browser, server)
    ids = ["image-a", "inv-samples", "inv-recon"]
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    before = tab.src("image-a")
    tab.upload(text)
    assert "notes.txt is not an image" in tab.note("Upload refused")
    assert tab.src("image-a") == before  # image A kept

    huge = tmp_path / "huge.png"
    digit("RGB", (6000, 4500)).save(huge)
    pictures = act(tab, ids, None, lambda: tab.upload(huge))
    note = tab.note("huge.png")
    assert "centre-cropped 6000x4500 to 4500x4500" in note and "resized 4500x4500 to 32x32" in note

    gray = tmp_path / "gray.png"
    digit("L", (32, 32)).save(gray)
    act(tab, ids, pictures, lambda: tab.upload(gray))
    assert "converted grayscale to RGB" in tab.note("gray.png")

    act(tab, ids, None, lambda: tab.gallery(5))  # still serving
    assert not tab.errors, tab.errors
    only_local(tab, server)
    tab.page.close()


def test_two_browser_tabs_at_the_same_time(server, browser, run_dir):
    ids = ["inv-samples", "inv-recon"]
    tabs = [Tab(browser, server), Tab(browser, server)]
    for tab, k in zip(tabs, (3, 9)):
        act(tab, ids, None, lambda: tab.gallery(k))
    before = [tab.snapshot(ids) for tab in tabs]
    for tab in tabs:  # both requests in flight together
        tab.page.locator("#inv-resample").click()
    for tab, b in zip(tabs, before):
        tab.wait_new(b)
    explorer = Explorer(run_dir)
    indices = explorer.gallery(0)[0]
    for tab, k in zip(tabs, (3, 9)):  # each tab shows exactly its own image's result (seed 1 after Resample)
        layer = explorer.layers[[l.startswith("@") for l in explorer.layers].index(False)]
        samples, recon, _ = explorer.call(handlers.invariances, explorer.image(indices[k]), layer, 8, 1)
        assert np.array_equal(tab.image("inv-samples"), samples)
        assert np.array_equal(tab.image("inv-recon"), recon)
        assert not tab.errors, tab.errors
        tab.page.close()


def test_a_run_without_a_stage_greys_out_its_mode(run_dir, browser, tmp_path):
    partial = tmp_path / "run"
    shutil.copytree(run_dir, partial, ignore=shutil.ignore_patterns("concepts", "features", "lightning", "logs"))
    app, url = serve(partial)
    try:
        tab = Tab(browser, url)
        assert tab.page.get_by_role("tab", name="Concepts").is_disabled()
        assert tab.page.get_by_role("tab", name="Mixing").is_enabled()
        notice = tab.page.locator("#notices").inner_text()
        assert "concepts is off" in notice and "stages=[concepts]" in notice, notice
        assert not tab.errors, tab.errors
        tab.page.close()
    finally:
        app.close()


# without a browser ---------------------------------------------------------------------------------------
def test_missing_stages_name_the_command(run_dir, tmp_path):
    partial = tmp_path / "run"
    shutil.copytree(run_dir, partial, ignore=shutil.ignore_patterns("invariances", "features", "lightning", "logs"))
    explorer = Explorer(partial)
    assert explorer.missing("attribution") is None and explorer.missing("concepts") is None
    for mode in ("invariances", "layer profile", "mixing", "adversarial"):
        assert "stages=[invariances]" in explorer.missing(mode)
    (partial / "autoencoder.pt").unlink()
    assert "stages=[autoencoder]" in explorer.missing("concepts") and explorer.missing("attribution") is None


def test_batched_handlers_draw_what_the_interpreter_draws(run_dir):
    explorer = Explorer(run_dir)
    interp, x = explorer.interp, torch.cat([explorer.image(0), explorer.image(1)])
    for layer in explorer.layers:
        both = handlers.with_reconstruction(interp, x, layer, n=3, seed=7)  # (2, 4, C, H, W)
        torch.testing.assert_close(both[:, :3], interp.sample_invariances(x, layer, n=3, seed=7).images, atol=1e-5,
                                   rtol=0)
        torch.testing.assert_close(both[:, 3], interp.reconstruct(x, layer).images, atol=1e-5, rtol=0)
    rows, _ = handlers.layer_profile(interp, x[:1], n=2, seed=3, scale=1)
    expected = torch.cat([torch.cat([x[:1], interp.sample_invariances(x[:1], layer, n=2, seed=3).images[0]])
                          for layer in explorer.layers])
    assert np.abs(rows.astype(int) - handlers.picture(expected, nrow=3, scale=1)).max() <= 1  # uint8 rounding
    target = explorer.concept_targets[0]
    factor = explorer.factors(target)[0]
    codes = handlers.pool_codes(interp, explorer.pool, target, factor)
    _, chart, _ = handlers.concepts(interp, x[:1], x[1:], target, factor, "resample", n=3, seed=5, codes=codes)
    edit = interp.resample(x[:1], factor, n=3, target=target, seed=5, pool=explorer.pool)
    expected = handlers.logit_chart(interp.logits(x[:1])[0], edit.logits[0].mean(0), "mean over 3 resamples")
    assert np.array_equal(chart, expected)


def test_uploads_are_converted_and_say_so(tmp_path):
    gray = tmp_path / "gray.png"
    digit("L", (64, 48)).save(gray)
    x, note = load_upload(gray, channels=3, size=32, max_pixels=10**8)
    assert x.shape == (1, 3, 32, 32) and 0 <= x.min() and x.max() <= 1 and x.std() > 0.1
    assert torch.equal(x[:, 0], x[:, 1])  # grey copied into every channel
    assert "converted grayscale to RGB" in note and "centre-cropped 64x48 to 48x48" in note
    rgba = tmp_path / "rgba.png"
    digit("RGBA", (32, 32)).save(rgba)
    x, note = load_upload(rgba, channels=1, size=32, max_pixels=10**8)
    assert x.shape == (1, 1, 32, 32) and "transparency" in note
    text = tmp_path / "model.pt"
    text.write_bytes(b"\x00not an image")
    with pytest.raises(UploadError, match="model.pt is not an image"):
        load_upload(text, 3, 32, 10**8)
    with pytest.raises(UploadError, match="too large"):
        load_upload(gray, 3, 32, max_pixels=100)


def test_layer_order_and_cli_error():
    assert handlers.order_layers(["block1", "@label", "logits", "@image"]) == ["@image", "block1", "logits", "@label"]
    from iin.explore.cli import main

    assert main(["/nonexistent/run"]) == 2
