"""Token features (B, N, D) of Vision Transformers: patch grid, class token, and the `#cls` / `#mean` reductions.

Layout rule (torchvision's and timm's ViT convention): N = 1 + h*w with h = w means a class token first,
then the patch tokens row by row; N = h*w means patch tokens only.
"""
from __future__ import annotations

import math

import torch

from ..errors import LayerError

REDUCTIONS = ("cls", "mean")


def _square_side(n: int) -> int | None:
    side = math.isqrt(n) if n > 0 else 0
    return side if side > 0 and side * side == n else None


def token_layout(n: int) -> tuple[int, int] | None:
    """(number of leading class tokens, grid side) for N tokens, or None when N fits no square grid.

    N and N - 1 are never both squares for N > 1, so the rule is unambiguous.
    """
    if n > 1 and _square_side(n - 1):
        return 1, _square_side(n - 1)
    side = _square_side(n)
    return (0, side) if side else None


def tokens_to_grid(tokens: torch.Tensor, what: str = "tokens") -> torch.Tensor:
    """Patch tokens (B, N, D) -> grid (B, D, h, w), class token dropped (pytorch-grad-cam's vit_reshape_transform)."""
    layout = token_layout(tokens.shape[1]) if tokens.dim() == 3 else None
    if layout is None:
        raise LayerError(f"{what} {tuple(tokens.shape)} cannot be laid out as a square patch grid: expected (B, N, D) "
                         f"with N = h*w or N = 1 + h*w (class token first)")
    start, side = layout
    patches = tokens[:, start:]  # (B, 1 + h*w, D) -> (B, h*w, D)
    return patches.transpose(1, 2).reshape(len(tokens), tokens.shape[2], side, side)  # (B, h*w, D) -> (B, D, h, w)


def _patch_start(tokens: torch.Tensor, how: str, layer: str) -> int:
    """Index of the first patch token; checks that the layer outputs tokens (and has a class token for `cls`)."""
    if tokens.dim() != 3:
        raise LayerError(f"'{layer}' needs tokens (B, N, D), but the layer outputs {tuple(tokens.shape)}; "
                         f"drop '#{how}' or tap a transformer layer")
    layout = token_layout(tokens.shape[1])
    start = layout[0] if layout else 0
    if how == "cls" and start == 0:
        raise LayerError(f"'{layer}': {tokens.shape[1]} tokens have no class token (expected N = 1 + h*w); use '#mean'")
    return start


def reduce_tokens(tokens: torch.Tensor, how: str, layer: str) -> torch.Tensor:
    """(B, N, D) -> (B, D): the class token (`cls`) or the mean over the patch tokens (`mean`)."""
    start = _patch_start(tokens, how, layer)
    return tokens[:, 0] if how == "cls" else tokens[:, start:].mean(1)


def write_tokens(tokens: torch.Tensor, value: torch.Tensor, how: str, layer: str) -> torch.Tensor:
    """Tokens whose reduction is `value` (B, D): the class token replaced (`cls`), or every patch token shifted
    by value - mean (`mean`), which keeps each token's deviation from the mean."""
    start = _patch_start(tokens, how, layer)
    value = value.reshape(len(tokens), tokens.shape[2]).to(tokens)
    if how == "cls":
        return torch.cat([value[:, None], tokens[:, 1:]], 1)  # (B, 1, D) + (B, N-1, D) -> (B, N, D)
    shifted = tokens[:, start:] + (value - tokens[:, start:].mean(1))[:, None]
    return torch.cat([tokens[:, :start], shifted], 1)
