"""The README's Python API pictures, made by the API itself from a trained run.

    python docs/make_figures.py outputs/colormnist            # writes docs/api_*.png

Every figure is one call of `iin.Interpreter` on seeded test examples (`interp.examples`), so the pictures
show what the README's code does. Rows and columns are labelled in the figures.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from iin import Interpreter
from iin.viz import plt, save_figure

HERE = Path(__file__).resolve().parent


def grid(cells: list[list[torch.Tensor | None]], rows: list[str], cols: list[str], title: str, path: Path) -> None:
    """A labelled image grid: cells[i][j] an image (C, H, W) in [0, 1] or None (left blank)."""
    n_rows, n_cols = len(cells), len(cells[0])
    height = 0.95 * n_rows + 0.6
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(0.95 * n_cols + 0.9, height), squeeze=False)
    for i, row in enumerate(cells):
        for j, img in enumerate(row):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([])
            if img is None:
                ax.axis("off")
            else:
                ax.imshow(img.permute(1, 2, 0).clamp(0, 1).cpu().numpy())  # (C, H, W) -> (H, W, C)
            if i == 0 and cols[j]:
                ax.set_title(cols[j], fontsize=7)
            if j == 0 and rows[i]:
                ax.set_ylabel(rows[i], fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.3 / height))  # room for the title
    save_figure(fig, path, dpi=110)
    print(f"wrote {path}")


def distinct(factor: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the first k examples whose factor values differ from each other."""
    seen: dict[int, int] = {}
    for i, v in enumerate(factor.tolist()):
        seen.setdefault(v, i)
    return torch.tensor(list(seen.values())[:k])


def invariances(interp: Interpreter, x: torch.Tensor, layer: str, out: Path) -> None:
    samples = interp.sample_invariances(x, layer, n=6, seed=0).images  # (B, 6, C, H, W)
    cells = [[xi, *si] for xi, si in zip(x, samples)]
    grid(cells, ["" for _ in x], ["input"] + [f"sample {s + 1}" for s in range(6)],
         f"sample_invariances(x, {layer!r}): images {layer} cannot tell apart from the input", out)


def swaps(interp: Interpreter, x: torch.Tensor, y: torch.Tensor, out: Path) -> None:
    cells = [[None, *y]]
    for xi in x:  # row i: x_i with the colour of each column's donor
        edit = interp.swap(xi[None].expand(len(y), -1, -1, -1), y, "color", target="@autoencoder")
        cells.append([xi, *edit.images])
    grid(cells, ["donor y"] + ["x" for _ in x], ["x \\ y"] + ["" for _ in y],
         "swap(x, y, 'color', target='@autoencoder'): x with y's colour", out)


def layer_vs_autoencoder(interp: Interpreter, x: torch.Tensor, y: torch.Tensor, out: Path) -> None:
    on_layer = interp.swap(x, y, "color", target="penultimate").images
    on_ae = interp.swap(x, y, "color", target="@autoencoder").images
    cells = [[a, b, c, d] for a, b, c, d in zip(x, y, on_layer, on_ae)]
    grid(cells, ["" for _ in x], ["x", "donor y", "swap on\npenultimate", "swap on\n@autoencoder"],
         "drawn with x's invariances, a penultimate edit keeps x's colour", out)


def set_by_class(interp: Interpreter, x: torch.Tensor, pool: torch.Tensor, colors: torch.Tensor, out: Path) -> None:
    values = {int(c): interp.value_of(pool[colors == c], "color") for c in colors.unique()}
    cells = [[xi, *[interp.set(xi[None], "color", v).images[0] for v in values.values()]] for xi in x]
    grid(cells, ["" for _ in x], ["input"] + [f"colour {c}" for c in values],
         "set(x, 'color', value_of(examples of colour c, 'color')): the mean code of a class", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a trained run directory (outputs/colormnist)")
    parser.add_argument("--out", default=str(HERE), help="where the PNGs go (default: docs/)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    interp = Interpreter.load(args.run_dir)
    pool, factors = interp.examples(500, split="test", seed=args.seed)
    idx = distinct(factors["color"], 8)  # examples of eight different colours
    x, y = pool[idx[:4]], pool[idx[4:8]]
    layer = next(l for l in reversed(interp.layers) if not l.startswith("@"))  # the deepest model layer
    invariances(interp, x, layer, out / "api_invariances.png")
    swaps(interp, x, y, out / "api_swap.png")
    if "penultimate" in interp.targets and "penultimate" in interp.layers:
        layer_vs_autoencoder(interp, x, y, out / "api_layer_swap.png")
    set_by_class(interp, x, pool, factors["color"], out / "api_set.png")


if __name__ == "__main__":
    main()
