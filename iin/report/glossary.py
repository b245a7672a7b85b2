"""What every metric in metrics.json means: definition, which direction is better, and what to compare it with.

Keys are flattened metric paths (`invariances/block2/invariance/color`). In a pattern, `<name>` stands for one
path part that varies (a layer, factor, target, method, seed) and `<name...>` for one or more parts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Entry:
    pattern: str  # flattened metric path with <placeholders>
    definition: str
    better: str  # "higher", "lower", "near 1", or "neither" for settings and descriptive quantities
    reference: str  # its range between the @image and @label calibrations, its chance level, or its scale


CAL = "between the @image calibration (conditioned on the image: nothing invariant) and @label (only the class)"
HI, LO, NONE = "higher", "lower", "neither"


def _held_out(prefix: str, unit: str, objective: str, section: str, kept: bool = True) -> tuple[Entry, ...]:
    """The entries of training's held-out measure (iin/stages/heldout.py) under `prefix`."""
    entries = (
        Entry(f"{prefix}/train_{unit}", f"{objective} of training images (as many as held out) at the kept step, "
              "measured by train.py", LO, f"compare with heldout_{unit}: a gap means overfitting"),
        Entry(f"{prefix}/heldout_{unit}", f"{objective} of the training images held out of the INN's training "
              f"({section}) at the kept step, the lowest one measured", LO, f"near train_{unit}: the flow generalises"),
    )
    return entries + (Entry(f"{prefix}/kept_step", "the training step whose weights were kept: the one with the "
                            "lowest held-out value", NONE, "the last step: still improving when training stopped"),
                      ) * kept


GLOSSARY: tuple[Entry, ...] = (
    # first stages
    Entry("classifier/test_accuracy", "share of test images the model under study classifies correctly", HI,
          "0..1; chance is 1/K for K classes"),
    Entry("oracle/<label>_accuracy", "share of test images the oracle (a separately trained classifier used only to "
          "read factors off images) classifies correctly; every readout-based metric trusts it", HI,
          "0..1; near 1 makes the preservation and swap metrics trustworthy"),
    Entry("autoencoder/recon_mse", "mean squared pixel error of the autoencoder round trip D(E(x)) on the test split",
          LO, "0 is a perfect copy; pixel values lie in [0, 1]"),
    Entry("autoencoder/preservation/<factor>", "share of round trips D(E(x)) whose oracle readout of the factor "
          "equals that of x", HI, "0..1; the ceiling for every sample-based preservation"),
    # invariances, per layer (and the @image / @label calibrations)
    Entry("invariances/<layer>/invariance/<factor>", "entropy of the factor's readouts over the S invariance "
          "samples of an image, divided by the entropy of S random test images: how freely the samples vary the "
          "factor while the layer's representation stays fixed", NONE,
          "0 = the layer encodes the factor, 1 = the layer ignores it; " + CAL),
    Entry("invariances/<layer>/preservation/<factor>", "share of invariance samples whose oracle readout of the "
          "factor equals the input's", NONE, "1 = the layer keeps the factor, 1/K (chance) = it loses it; " + CAL),
    Entry("invariances/<layer>/reencode_cosine", "mean cosine between the layer's representation of each sample "
          "and that of its input: do the samples really share the representation?", HI,
          "upper reference reencode_cosine_ae, lower reference reencode_cosine_random"),
    Entry("invariances/<layer>/reencode_cosine_ae", "the same cosine for the autoencoder round trip D(E(x)): the best "
          "a decoded image can do", HI, "upper reference of reencode_cosine"),
    Entry("invariances/<layer>/reencode_cosine_random", "the same cosine between the representations of two random "
          "test images", NONE, "lower reference of reencode_cosine"),
    Entry("invariances/<layer>/prediction_agreement", "share of samples on which the model predicts the same class as "
          "on the input", HI, "0..1; chance about 1/K"),
    Entry("invariances/<layer>/nll_bits_per_dim", "negative log-likelihood of the encoded test images under the "
          "conditional INN, in bits per latent dimension", LO, "compare layers of one run; @image is the easiest"),
    *_held_out("invariances/<layer>", "nll_bits_per_dim", "NLL of encoded images (bits per dimension)",
               "invariance.holdout"),
    Entry("invariances/<layer>/invertibility_max_abs_err", "largest |tau^-1(tau(zbar)) - zbar| on the test codes: "
          "numerical invertibility of the conditional INN", LO, "float32 round-off is about 1e-6"),
    # attack
    Entry("attack/fgsm_eps", "FGSM step size in pixel units (setting)", NONE, "pixel values lie in [0, 1]"),
    Entry("attack/clean_accuracy", "model accuracy on the attacked images before the attack", HI, "0..1"),
    Entry("attack/attacked_accuracy", "model accuracy after the FGSM attack", NONE,
          "lower means a stronger attack; compare with clean_accuracy"),
    Entry("attack/explained_variance/<layer>/<input>", "median share of the autoencoder code's variance that the "
          "invariances explain, for clean or attacked inputs (Fig. 5 of Rombach et al.)", NONE,
          "a rise from clean to attacked means the attack moved the image into the layer's invariances"),
    # concepts (disentangling INN per target)
    Entry("concepts/<target>/factor_dims/<factor>", "dimensions of the INN's output given to the factor", NONE,
          "allocated from factor_scores; the residual takes the rest"),
    Entry("concepts/<target>/factor_scores/<factor>", "share of the representation's variance that pairs sharing "
          "the factor have in common (the residual is fixed at 1)", NONE, "0 = unrelated, 1 = determines it"),
    Entry("concepts/<target>/invertibility_max_abs_err", "largest |T^-1(T(z)) - z| on test codes", LO,
          "float32 round-off is about 1e-6"),
    Entry("concepts/<target>/code_std/<factor>", "mean standard deviation of the factor's codes on test images",
          "near 1", "about 1 when the codes follow the prior N(0, I)"),
    Entry("concepts/<target>/swap/<factor>/accuracy", "share of swaps (x's factor replaced by y's) where the oracle "
          "reads y's value of the factor in the edited image", HI,
          "chance 1/K (1/8 for 8 colours); near chance is expected where the layer is invariant to the factor"),
    Entry("concepts/<target>/swap/<factor>/keep", "share of the other factors that still read as x's after the swap",
          HI, "0..1; 1 = the swap touches only its factor"),
    Entry("concepts/<target>/model_response/<factor>", "std of the model's logits when only this factor is redrawn "
          "from the codes of test images", NONE, "0 = the model ignores the factor; compare the reference"),
    Entry("concepts/<target>/model_response_prior/<factor>", "the same std when the factor is drawn from the prior "
          "N(0, I)", NONE, "compare model_response"),
    Entry("concepts/<target>/model_response_reference/<factor>", "ground truth: std of the model's logits over the "
          "same digits repainted in every palette colour", NONE, "what model_response/color should approach"),
    *_held_out("concepts/<target>", "factor_loss", "FactorLoss (pair NLL, nats) of pairs", "concepts.holdout"),
    *_held_out("concepts/<target>", "nll_bits_per_dim", "pair-free IIN: NLL of codes (bits per dimension)",
               "concepts.holdout", kept=False),
    Entry("concepts/<target>/walk_response/<direction>", "pair-free IIN: std of the model's logits along a walk "
          "t in [-2, 2] on a principal direction of the codes", NONE, "0 = the model ignores the direction"),
    # Frechet distance
    Entry("frechet/n_images", "images per set (setting)", NONE, "more images, less bias"),
    Entry("frechet/features", "the oracle layer whose features the distance compares (setting)", NONE, "-"),
    Entry("frechet/note", "how to read the Frechet distances of this run", NONE, "-"),
    Entry("frechet/noise", "Frechet distance of uniform noise to the test images", NONE, "far reference"),
    Entry("frechet/train", "Frechet distance of training images to the test images", NONE,
          "near reference (sampling error of two real sets)"),
    Entry("frechet/autoencoder_reconstructions", "Frechet distance of D(E(x)) to the test images", LO,
          "the decoder's own limit for every sample set"),
    Entry("frechet/autoencoder_samples", "Frechet distance of D(z), z ~ N(0, I), to the test images", LO,
          "unconditional samples"),
    Entry("frechet/invariances/<layer>", "Frechet distance of the layer's invariance samples to the test images",
          LO, "between train (near) and noise (far); reconstructions are the floor"),
    Entry("frechet/concepts/<target>/<factor>", "Frechet distance of swap edits of the factor to the test images", LO,
          "between train (near) and noise (far)"),
    Entry("frechet/<set...>", "Frechet distance of a user-registered image set to the test images", LO,
          "between train (near) and noise (far)"),
    # attribution baselines
    Entry("attribution/<method>/deletion_auc", "area under P(class) as the most important pixels are deleted "
          "first (Petsiuk et al.)", LO, "0..1; beat the random map's value"),
    Entry("attribution/<method>/insertion_auc", "area under P(class) as the most important pixels are inserted "
          "into a blurred image first", HI, "0..1; beat the random map's value"),
    Entry("attribution/<method>/pointing_game", "share of maps whose maximum lies on the object mask", HI,
          "0..1; compare the random and edge maps"),
    Entry("attribution/<method>/sanity_spearman", "Spearman correlation with the original map once every block "
          "is re-initialised (Adebayo et al.)", LO, "near 0 = the map depends on the weights, as it should"),
    Entry("attribution/<method>/sanity_curve/<block>", "the same correlation after re-initialising from the top "
          "down to this block", LO, "starts at 1, should fall towards 0"),
    Entry("attribution/<method>/<metric>_ci", "95% bootstrap interval of the metric over test images", NONE,
          "narrow intervals mean the ranking is reliable"),
    Entry("attribution/<method>/seconds_per_image", "wall seconds per image for the map", LO, "machine dependent"),
    Entry("attribution/notes", "methods that do not beat the random map, and why", NONE, "-"),
    # Zhang: interpretable CNN and explanatory graph
    Entry("zhang/<units>/location_instability", "std over images of the distance between a unit's peak and the "
          "part landmarks, normalised by the image size; units are the top-layer filters of the ordinary or "
          "interpretable (icnn) CNN, or explanatory-graph nodes vs raw filters (graph, filters)", LO,
          "compare ordinary with icnn, and graph with filters"),
    Entry("zhang/<net>/part_iou", "mean over filters of the best part's share of images where the filter's top "
          "region overlaps the part (IoU > 0.2)", HI, "0..1"),
    Entry("zhang/<net>/part_mean_iou", "mean over filters of the best part's mean IoU", HI, "0..1"),
    Entry("zhang/<net>/filters_per_part/<part>", "share of top-layer filters whose best part is this one", NONE,
          "sums to 1 over parts"),
    Entry("zhang/<net>/accuracy", "test accuracy of the ordinary or interpretable CNN", HI, "0..1"),
    Entry("zhang/localization/<units>", "few-shot part localisation error (graph nodes, raw filters, or ridge "
          "regression on features), normalised by the image size", LO, "0 = exact"),
    Entry("zhang/per_seed/<seed>/<metric...>", "the metric of the same name for one training seed", NONE,
          "the section's values are means over seeds"),
    Entry("zhang/setup/<setting>", "few-shot setup: shots, draws and seeds (settings)", NONE, "-"),
    # bookkeeping
    Entry("timing/<stage...>", "wall seconds of a training stage or evaluation section", LO, "machine dependent"),
    Entry("missing", "sections skipped because a stage they need is not trained", NONE, "empty when complete"),
)


@lru_cache(maxsize=None)
def _regex(pattern: str) -> re.Pattern:
    parts = re.split(r"(<[a-z_]+(?:\.\.\.)?>)", pattern)
    body = "".join(".+" if p.endswith("...>") else "[^/]+" if p.startswith("<") else re.escape(p) for p in parts)
    return re.compile(body + r"\Z")


def matches(pattern: str, key: str) -> bool:
    """Whether the flattened metric key is an instance of the glossary pattern."""
    return _regex(pattern).match(key) is not None


def entry(key: str) -> Entry | None:
    """The glossary entry of a flattened metric key (the first pattern that matches), or None."""
    return next((e for e in GLOSSARY if matches(e.pattern, key)), None)


def anchor(pattern: str) -> str:
    """The HTML id of a pattern's glossary row."""
    return "g-" + re.sub(r"[^a-z0-9]+", "-", pattern.lower()).strip("-")
