"""Captions of the figures evaluation writes, keyed by the figure's file stem: what the rows and columns show."""
from __future__ import annotations

import re

# (stem regex, caption template over the regex's named groups); the first match wins.
CAPTIONS: tuple[tuple[str, str], ...] = (
    (r"invariances_profile", "Layer profile: invariance of each factor (y axis; 0 = the layer encodes it, 1 = it "
     "ignores it) at each trained layer from input to output (x axis). Thin horizontal lines in the same colour mark that "
     "factor at the @image and @label calibrations (see the legend)."),
    (r"invariances_(?P<layer>@.+)", "Calibration {layer}: each row is one test image. Columns: the input, its "
     "autoencoder round trip D(E(x)), then 8 samples conditioned on {layer} instead of a model layer."),
    (r"invariances_(?P<layer>.+)", "Invariances of layer {layer}: each row is one test image. Columns: the input, "
     "its autoencoder round trip D(E(x)), then 8 samples D(tau^-1(v|z)) that share the input's representation z "
     "at {layer}; what varies along a row is what {layer} ignores."),
    (r"attack_(?P<layer>.+)", "FGSM attack at {layer}: rows come in pairs, a clean test image and its attacked "
     "copy, each with the model's prediction. Columns: the input, then 7 invariance samples of {layer} for it."),
    (r"concepts_swap_(?P<target>.+)_(?P<factor>[^_]+)", "Swap grid for {factor} at {target}: the top row holds "
     "6 column images and the left column 6 donors; each cell is its column image with the {factor} of its row's "
     "donor transplanted. A working swap repeats each row's {factor} across that row."),
    (r"concepts_interp_(?P<target>.+)_(?P<factor>[^_]+)", "Interpolating {factor} at {target}: each row is one "
     "pair of test images. Columns: x, the donor y, then x with its {factor} code moved in 8 steps from its own "
     "value (t=0) to y's (t=1)."),
    (r"concepts_walk_(?P<target>.+)", "Pair-free IIN {target}: each row walks one test image along one of the top "
     "principal directions (pc1 first) of the codes. Columns are the steps t from -2 to +2 of that walk."),
    (r"concepts_response_(?P<target>.+)", "Model response at {target}: bars show the std of the model's logits "
     "when one factor (x axis) alone is redrawn, from test codes, from the prior, and by repainting (truth)."),
    (r"frechet", "Frechet distance to the test images (log scale, lower is closer) for each image set on the "
     "x axis: noise and training images are the far and near references."),
    (r"attribution_overlays", "Attribution maps for the model's predicted class: each column is one test image; "
     "the first row shows the inputs, every other row one method's map overlaid on them."),
    (r"attribution_actmax", "Activation maximisation: each column is the image synthesised from noise to "
     "maximise one class logit of the model, classes in order from left to right."),
    (r"attribution_deepdream", "DeepDream: each column is one test image; the top row shows the inputs and the "
     "bottom row the same images after amplifying their own activations at the chosen layer."),
    (r"attribution_sanity", "Cascading randomisation: Spearman correlation (y axis) between each method's map "
     "and its original map as blocks are re-initialised from the top (x axis); faithful maps fall towards 0."),
    (r"zhang_filters", "Interpretable vs ordinary CNN: each row is one test image; columns show the image, then "
     "the most active top-layer filter maps of each network overlaid on it."),
    (r"zhang_graph", "Explanatory graph: each row is one node of a mined layer (with its filter); columns show "
     "the image patches around its inferred position on its most strongly activating images."),
)
FALLBACK = ("Figure '{stem}': written by a section that registers no caption in iin/report/captions.py, so its "
            "rows and columns are not described here.")


def caption(stem: str) -> str:
    """The caption of the figure with this file stem."""
    for pattern, template in CAPTIONS:
        found = re.fullmatch(pattern, stem)
        if found:
            return template.format(**found.groupdict())
    return FALLBACK.format(stem=stem)
