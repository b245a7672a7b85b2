"""The Gradio page: an image picker above one tab per mode. Widgets only; every computation is a handler call.

Offline by construction: analytics off (set before gradio is imported), system fonts (no Google Fonts), no
share link, bound to 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from typing import Callable

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # gradio reads it at import and before every launch

import gradio as gr  # noqa: E402

from ..errors import UserError  # noqa: E402
from .session import Explorer  # noqa: E402
from .tabs import MODE_TABS  # noqa: E402

FONTS = ["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
CSS = "img { image-rendering: pixelated; }"  # magnified digits stay sharp when the browser scales them


def theme() -> gr.themes.Base:
    return gr.themes.Base(font=FONTS, font_mono=MONO)


@dataclass
class Page:
    """What every mode tab shares: the run, images A and B (per browser tab), the active mode."""

    explorer: Explorer
    a: gr.State
    b: gr.State
    mode: gr.State
    image_events: list = field(default_factory=list)  # events after which the active mode recomputes
    on_load: dict = field(default_factory=dict)  # mode -> (fn, inputs, outputs): what the page shows first

    def wire(self, name: str, tab: gr.Tab, fn: Callable, inputs: list, outputs: list, triggers: list) -> None:
        """Run fn(*inputs) -> outputs on each trigger, when the tab opens, and after image A or B changes."""
        fn = friendly(fn, self.explorer.shown)
        self.on_load[name] = (fn, inputs, outputs)
        for trigger in triggers:
            trigger(fn, inputs, outputs, trigger_mode="always_last", show_progress="minimal")
        tab.select(lambda: name, None, self.mode).then(fn, inputs, outputs, show_progress="minimal")

        def if_active(active, *args):
            return fn(*args) if active == name else tuple(gr.skip() for _ in outputs)

        for event in self.image_events:
            event.then(if_active, [self.mode, *inputs], outputs, show_progress="minimal")


def friendly(fn: Callable, shown: Callable) -> Callable:
    """fn with its pictures handed over as files (`shown`) and user mistakes shown as one message in the page
    instead of a server traceback."""
    def call(*args):
        try:
            return shown(fn(*args))
        except (UserError, ValueError, KeyError) as err:
            raise gr.Error(str(err)) from err
    return call


def picker(page: Page) -> None:
    """The gallery (a seeded shuffle of the test split), an upload button, and images A and B."""
    ex = page.explorer
    indices, pictures = ex.gallery(0)
    shown = gr.State(indices)
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(pictures, columns=8, height=260, allow_preview=False, format="png",
                                 object_fit="contain", label="test images: a click sets image A or B",
                                 elem_id="gallery")
            with gr.Row():
                seed = gr.Number(0, precision=0, label="shuffle seed", elem_id="gallery-seed", min_width=100)
                slot = gr.Radio(["A", "B"], value="A", label="a click or an upload sets image", elem_id="slot")
                upload = gr.UploadButton("Upload an image", elem_id="upload")
            note = gr.Markdown(elem_id="note")
        with gr.Column(scale=1, min_width=200):
            show_a = gr.Image(ex.picture(ex.image(indices[0])), label="image A", format="png", interactive=False,
                              height=140, elem_id="image-a")
            show_b = gr.Image(ex.picture(ex.image(indices[1])), label="image B (mixing partner, concept donor)",
                              format="png", interactive=False, height=140, elem_id="image-b")
    seed.change(lambda s: ex.gallery(int(s or 0))[::-1], seed, [gallery, shown])
    choosing(page, gallery, shown, slot, upload, [page.a, page.b, show_a, show_b, note])


def choosing(page: Page, gallery: gr.Gallery, shown: gr.State, slot: gr.Radio, upload: gr.UploadButton,
             targets: list) -> None:
    """A gallery click or an upload sets image A or B (per the slot radio) and says what it did in the note."""
    ex = page.explorer

    def chosen(x, text, which):
        keep = (gr.skip(), gr.skip())
        new = (x, ex.shown(ex.picture(x)))
        a, b = (new, keep) if which == "A" else (keep, new)
        return a[0], b[0], a[1], b[1], text

    def select(indices, which, evt: gr.SelectData):
        return chosen(ex.image(indices[evt.index]), f"image {which}: test image {indices[evt.index]}", which)

    def uploaded(path, which):
        try:
            x, text = ex.upload(path)
        except UserError as err:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"**Upload refused:** {err}"
        return chosen(x, f"image {which} uploaded: {text}", which)

    page.image_events += [gallery.select(select, [shown, slot], targets),
                          upload.upload(uploaded, [upload, slot], targets)]


def notices(ex: Explorer) -> str:
    off = [f"- **{name}** is off: {reason}" for name, _ in MODE_TABS if (reason := ex.missing(name))]
    return "\n".join(["Modes this run cannot show yet:", *off]) if off else ""


def build_app(explorer: Explorer) -> gr.Blocks:
    """The whole page for one loaded run."""
    with gr.Blocks(title="iin explorer", analytics_enabled=False) as app:
        gr.Markdown(f"## iin explorer: `{explorer.run_dir}`\nlayers with an invariance cINN: "
                    f"{', '.join(explorer.layers) or 'none'}; concept targets: "
                    f"{', '.join(explorer.concept_targets) or 'none'}")
        gr.Markdown(notices(explorer), elem_id="notices")
        first, second = explorer.gallery(0)[0][:2]
        start = next((name for name, _ in MODE_TABS if not explorer.missing(name)), None)
        page = Page(explorer, gr.State(explorer.image(first)), gr.State(explorer.image(second)), gr.State(start))
        picker(page)
        with gr.Tabs(selected=start):
            for name, build in MODE_TABS:
                reason = explorer.missing(name)
                with gr.Tab(name.capitalize(), id=name, interactive=reason is None,
                            elem_id=f"tab-{name.replace(' ', '-')}") as tab:
                    if reason:
                        gr.Markdown(f"This run has no {name} yet: it {reason}")
                    else:
                        build(page, tab)
        if start:
            app.load(*page.on_load[start], show_progress="minimal")
    return app


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, block: bool = True):
    """Serve the page locally: no share link, no monitoring endpoint, no run history in the browser."""
    options = dict(footer_links=["api", "settings"], enable_monitoring=False, run_history=False, ssr_mode=False)
    accepted = inspect.signature(app.launch).parameters  # run_history is newer than gradio 6.0
    return app.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block, theme=theme(),
                      css=CSS, quiet=True, **{k: v for k, v in options.items() if k in accepted})
