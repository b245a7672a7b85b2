"""Concept metrics per target: factor dimensions, swap accuracy/keep, model response; swap and interpolation figures."""
from __future__ import annotations

import torch

from ..data import colormnist
from ..editing import Interpreter
from ..flows import RESIDUAL
from ..targets import concept_stage
from ..viz import bar_chart, save_grid
from .context import EvalContext, MissingStage


@torch.no_grad()
def swap_metrics(ctx: EvalContext, interp: Interpreter, target: str, x: torch.Tensor, y: torch.Tensor) -> dict:
    """swap[f].accuracy: the oracle reads y's f after transplanting f; swap[f].keep: other factors stay x's."""
    if not ctx.has_readouts:
        return {}
    read_x, read_y = ctx.readouts(x), ctx.readouts(y)
    out = {}
    for f in [f for f in interp.dinn(target).factors if f in read_x]:
        edit = interp.swap(x, y, f, target)
        if not edit.has_images:
            continue
        got = ctx.readouts(edit.images)
        others = [g for g in got if g != f]
        keep = torch.stack([(got[g] == read_x[g]).float() for g in others]).mean() if others else torch.tensor(1.0)
        out[f] = {"accuracy": (got[f] == read_y[f]).float().mean().item(), "keep": keep.item()}
    return out


@torch.no_grad()
def model_response(interp: Interpreter, target: str, x: torch.Tensor, pool: torch.Tensor | None = None,
                   n: int = 8) -> dict:
    """Std of the model's logits over n draws of factor f alone (mean over classes and images).

    Draws come from the codes of random `pool` images (the data), else from the prior N(0, I).
    """
    out = {}
    for f in interp.dinn(target).factors:
        logits = interp.resample(x, f, n, target, pool=pool).logits  # (B, n, K)
        out[f] = logits.std(1).mean().item()
    return out


@torch.no_grad()
def round_trip_error(interp: Interpreter, target: str, x: torch.Tensor) -> float:
    """max |T^-1(T(z)) - z| over the codes z of x."""
    z, dinn = interp.codes(x, target), interp.dinn(target)
    return (dinn(dinn(z, jac=False)[0], rev=True, jac=False)[0] - z).abs().max().item()


def code_std(parts: dict[str, torch.Tensor]) -> dict:
    """Per factor the mean std of its codes (`Interpreter.factors`): about 1 where they follow the prior N(0, I)."""
    return {f: z.std(0).mean().item() for f, z in parts.items()}


@torch.no_grad()
def repainted_response(ctx: EvalContext, interp: Interpreter, idx: torch.Tensor) -> dict:
    """Ground truth for `model_response.color` on colormnist: the std of the model's logits over the same
    test digits painted in every palette colour (empty for other data)."""
    if ctx.cfg.data.name != "colormnist" or ctx.palette is None:
        return {}
    opts = dict(ctx.cfg.data.get("options") or {})
    logits = torch.stack([interp.logits(colormnist("test", **opts, paint_as=c).images[idx])
                          for c in range(len(ctx.palette))], 1)  # (B, K colours, classes)
    return {"color": logits.std(1).mean().item()}


@torch.no_grad()
def walk_metrics(ctx: EvalContext, interp: Interpreter, target: str, x: torch.Tensor, n_directions: int = 4,
                 steps: int = 8) -> dict:
    """A pair-free IIN: round trip, code_std, and per principal direction of its test codes the std of the
    model's logits along a linear walk zt + t d (t in [-2, 2]); the walks of four images as a figure."""
    parts = interp.factors(x, target)
    zt = parts[RESIDUAL]
    directions = torch.linalg.svd(zt - zt.mean(0), full_matrices=False).Vh[:n_directions]  # (k, D), top first
    walks = [interp.walk(x[:100], d, steps, target=target) for d in directions]
    if walks[0].has_images:
        walk_figure(ctx, target, [w.images for w in walks], steps)
    return {
        "invertibility_max_abs_err": round_trip_error(interp, target, x),
        "code_std": code_std(parts),
        "walk_response": {f"pc{i + 1}": w.logits.std(1).mean().item() for i, w in enumerate(walks)},  # (B, steps, K)
    }


def concept_metrics(ctx: EvalContext) -> dict:
    """`concepts.<target>` for every trained target and `concepts.<target>@unsupervised` for every pair-free IIN."""
    interp = ctx.interpreter
    if not interp.targets + interp.unsupervised_targets:
        raise MissingStage("concepts (no target's INN is trained)")
    idx = ctx.subset_index(int(ctx.option("concept_images")))
    x = ctx.items(len(idx))["image"]
    y = x.roll(1, dims=0)  # every image swaps with another random test image
    reference = repainted_response(ctx, interp, idx[:100])
    out = {}
    for target in interp.targets:
        ckpt = ctx.run.load(concept_stage(target))
        out[target] = {
            "factor_dims": dict(interp.dinn(target).factor_dims),
            "factor_scores": ckpt.get("factor_scores", {}),
            "invertibility_max_abs_err": round_trip_error(interp, target, x),
            "code_std": code_std(interp.factors(x, target)),
            "swap": swap_metrics(ctx, interp, target, x, y),
            "model_response": model_response(interp, target, x[:100], pool=x),
            "model_response_prior": model_response(interp, target, x[:100]),
            "model_response_reference": reference,
            **ctx.held_out(concept_stage(target), "factor_loss"),
        }
        concept_figures(ctx, interp, target, x, out[target])
    for target in interp.unsupervised_targets:
        held_out = ctx.held_out(concept_stage(target), "nll_bits_per_dim")
        out[target] = {**walk_metrics(ctx, interp, target, x), **held_out}
    return out


def walk_figure(ctx: EvalContext, target: str, walks: list[torch.Tensor], steps: int, n: int = 4) -> None:
    """Rows: the first n images walked along each principal direction; columns: the walk's steps t."""
    rows = torch.cat([w.reshape(-1, steps, *w.shape[-3:])[:n] for w in walks])  # (B*steps, ...) -> (k*n, steps, ...)
    labels = [f"pc{d + 1}, image {i + 1}" for d in range(len(walks)) for i in range(n)]
    columns = [f"t={t:+.1f}" for t in torch.linspace(-2, 2, steps).tolist()]
    save_grid(rows, ctx.figures / f"concepts_walk_{target}.png", row_labels=labels, col_labels=columns,
              title=f"walks along the top principal directions of {target}'s codes")


@torch.no_grad()
def swap_figure(ctx: EvalContext, interp: Interpreter, target: str, factor: str, x: torch.Tensor, n: int = 6) -> None:
    """An (n+1) x (n+1) grid: the top row shows n column images, the left column n donors; each cell is the
    column image with the row's `factor` transplanted."""
    rows, cols = x[:n], x[n:2 * n]
    cells = interp.swap(cols.repeat(n, 1, 1, 1), rows.repeat_interleave(n, 0), factor, target).images
    cells = cells.reshape(n, n, *x.shape[1:])  # (n*n, C, H, W) -> (row, column, C, H, W)
    corner = torch.ones_like(x[:1])  # blank top-left cell
    grid = torch.cat([torch.cat([corner, cols])[None], torch.cat([rows[:, None], cells], 1)])  # (n+1, n+1, C, H, W)
    save_grid(grid, ctx.figures / f"concepts_swap_{target}_{factor}.png",
              row_labels=["column image", *(f"{factor} donor {i + 1}" for i in range(n))],
              col_labels=["donor", *(f"column {j + 1}" for j in range(n))],
              title=f"swap {factor} at {target}: each cell is its column image with its row's {factor}")


@torch.no_grad()
def interpolation_figure(ctx: EvalContext, interp: Interpreter, target: str, factor: str, x: torch.Tensor,
                         n: int = 4, steps: int = 8) -> None:
    """Rows: n image pairs (x, y); columns: x, y, then x with `factor` moving from x's value (t=0) to y's (t=1)."""
    x0, y0 = x[:n], x[n:2 * n]
    strip = interp.interpolate(x0, y0, factor, steps, target).images.reshape(n, steps, *x.shape[1:])
    grid = torch.cat([x0[:, None], y0[:, None], strip], 1)  # (n, 2 + steps, C, H, W)
    columns = ["x", "y (donor)", *(f"t={t:.2f}" for t in torch.linspace(0, 1, steps).tolist())]
    save_grid(grid, ctx.figures / f"concepts_interp_{target}_{factor}.png",
              row_labels=[f"pair {i + 1}" for i in range(n)], col_labels=columns,
              title=f"interpolate {factor} at {target} from x's value to y's")


@torch.no_grad()
def concept_figures(ctx: EvalContext, interp: Interpreter, target: str, x: torch.Tensor, metrics: dict) -> None:
    """Per factor a labelled cross-swap grid and interpolation strips; a model-response bar chart."""
    for f in metrics["swap"]:
        swap_figure(ctx, interp, target, f, x)
        interpolation_figure(ctx, interp, target, f, x)
    resp = {f: {"test-code draws": v, "N(0, I) draws": metrics["model_response_prior"][f]}
            for f, v in metrics["model_response"].items()}
    for f, v in metrics["model_response_reference"].items():
        resp[f]["repainted (truth)"] = v
    bar_chart(resp, ctx.figures / f"concepts_response_{target}.png",
              title=f"model response to resampling each factor ({target})", ylabel="std of logits")
