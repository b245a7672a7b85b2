"""Figures: ordinary vs interpretable filter maps, and the top-activation patches of explanatory-graph nodes."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..viz import colormap, save_grid
from .graph import GraphLayer, infer_graph
from .network import ZhangCNN
from .train import predict_maps


def top_patches(images: torch.Tensor, pos: torch.Tensor, score: torch.Tensor, k: int = 6,
                patch: int = 16) -> torch.Tensor:
    """For every unit, crops (U, k, C, patch, patch) around its inferred positions (N, U, 2) on its top-k images."""
    pad = patch // 2
    padded = F.pad(images, (pad, pad, pad, pad))  # (N, C, H + patch, W + patch)
    top = score.topk(min(k, len(score)), dim=0).indices.T  # (U, k)
    crops = []
    for u, rows in enumerate(top):
        x, y = pos[rows, u, 0].long(), pos[rows, u, 1].long()  # pixel centres; padded frame shifts by pad
        crops.append(torch.stack([padded[i, :, yy:yy + patch, xx:xx + patch] for i, xx, yy in zip(rows, x, y)]))
    return torch.stack(crops)


def overlay(images: torch.Tensor, fmaps: torch.Tensor) -> torch.Tensor:
    """Images (N, 3, H, W) blended with their maps (N, h, w), upsampled and coloured (magma, max-normalised)."""
    up = F.interpolate(fmaps[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    up = up / up.flatten(1).amax(1).clamp(min=1e-8)[:, None, None]  # (N, H, W) in [0, 1]
    heat = colormap(up, "magma").permute(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
    return 0.4 * images + 0.6 * heat  # (N, 3, H, W)


def filter_figure(nets: dict[str, ZhangCNN], images: torch.Tensor, path: Path, filters: int = 4) -> Path:
    """Rows: images; columns: the image, then `filters` top-layer maps of each network (its most active filters)."""
    tiles, columns = [images[:, None]], ["image"]  # (N, 1, 3, H, W)
    for name, net in nets.items():
        fmap = predict_maps(net, images, ("top",))["top"]
        chosen = fmap.flatten(2).amax(-1).mean(0).topk(filters).indices
        tiles.append(torch.stack([overlay(images, fmap[:, f]) for f in chosen], 1))  # (N, filters, 3, H, W)
        columns += [f"{name} f{int(f)}" for f in chosen]
    grid = torch.cat(tiles, 1)  # (N, 1 + filters * nets, 3, H, W)
    title = "image | " + " | ".join(f"{name}: {filters} most active top-layer filters" for name in nets)
    return save_grid(grid, path, row_labels=[f"image {i + 1}" for i in range(len(images))], col_labels=columns,
                     title=title)


def graph_figure(net: ZhangCNN, layers: list[GraphLayer], images: torch.Tensor, path: Path,
                 nodes: int = 6, k: int = 6) -> Path:
    """Per mined layer, the `nodes` most active nodes, each with its top-k activation patches."""
    size = images.shape[-1]
    inferred = infer_graph(layers, predict_maps(net, images, tuple(layer.name for layer in layers)), size)
    rows, labels = [], []
    for layer in layers:
        pos, score = inferred[layer.name]
        best = score.mean(0).topk(min(nodes, score.shape[1])).indices
        rows.append(top_patches(images, pos[:, best], score[:, best], k))  # (nodes, k, C, p, p)
        labels += [f"{layer.name} v{int(v)} (f{int(layer.filter[v])})" for v in best]
    grid = torch.cat(rows)  # (rows, k, C, p, p)
    return save_grid(grid, path, row_labels=labels, col_labels=[f"top {i + 1}" for i in range(grid.shape[1])],
                     title="explanatory graph: top-activation patches per node", min_cell=48)
