"""The explanatory graph of a CNN: part patterns (nodes) mined from the activation peaks of conv layers.

Zhang et al., "Interpreting CNN Knowledge via an Explanatory Graph" (AAAI 2018), simplified:
the layers are mined top-down; each filter f of a layer gets M competing nodes; a node v has K
parents u among the nodes of the layer above (the top layer's only parent is the root, the
activation-weighted centroid of the top layer) with spatial offsets Delta_vu and a spread sigma_v.
On an image, node v's prior over positions p and its inferred position are

    pi_v(p) = 1/K sum_u exp(-||p - p_u - Delta_vu||^2 / (2 sigma_v^2)),   p_v = argmax_p xhat_f(p) pi_v(p).

EM: the E-step gives every activation entity (a local peak q_j with value s_j of filter f) to the
filter's competing nodes in proportion to s_j pi_v(q_j); the M-step re-estimates, for every node
and every candidate parent, the weighted mean and variance of q_j - p_u, and keeps as parents the
K candidates with the most rigid spatial relation (smallest variance).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .positions import grid_positions, local_peaks, weighted_centroid


@dataclass
class GraphLayer:
    """Nodes of one conv layer: filter (V,), parents (V, K), offsets (V, K, 2) px, sigma (V,) px."""

    name: str
    filter: torch.Tensor
    parents: torch.Tensor
    offsets: torch.Tensor
    sigma: torch.Tensor
    scale: torch.Tensor  # (F,) mean peak activation per filter, normalises xhat_f = x_f / scale_f

    def state(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "filter", "parents", "offsets", "sigma", "scale")}


def node_scores(layer: GraphLayer, fmap: torch.Tensor, parent_pos: torch.Tensor, image_size: int,
                chunk: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Inferred positions (N, V, 2) px and scores (N, V) of the layer's nodes given the parents' positions (N, U, 2)."""
    grid = grid_positions(fmap.shape[-2:], image_size)  # (P, 2)
    pos, score = [], []
    for x, pp in zip(fmap.split(chunk), parent_pos.split(chunk)):
        xhat = (x / layer.scale[None, :, None, None]).flatten(2)[:, layer.filter]  # (n, V, P)
        centre = pp[:, layer.parents] + layer.offsets[None]  # (n, V, K, 2)
        d2 = ((grid[None, None, None] - centre[..., None, :]) ** 2).sum(-1)  # (n, V, K, P)
        prior = torch.exp(-d2 / (2 * layer.sigma[None, :, None, None] ** 2)).mean(2)  # (n, V, P)
        s, idx = (xhat * prior).max(-1)
        pos.append(grid[idx])
        score.append(s)
    return torch.cat(pos), torch.cat(score)


def _responsibilities(layer: GraphLayer, q: torch.Tensor, s: torch.Tensor, parent_pos: torch.Tensor,
                      outlier: float = 0.0) -> torch.Tensor:
    """E-step: w_vj = s_j pi_v(q_j) / (outlier + sum_{v' of filter f} pi_v'(q_j)) for entities q (N, F, J, 2), s (N, F, J).

    `outlier` is the likelihood of a background component: entities far from every node (clutter) get little weight.
    """
    qv, sv = q[:, layer.filter], s[:, layer.filter]  # (N, V, J, 2), (N, V, J)
    centre = parent_pos[:, layer.parents] + layer.offsets[None]  # (N, V, K, 2)
    d2 = ((qv[:, :, :, None] - centre[:, :, None]) ** 2).sum(-1)  # (N, V, J, K)
    lik = torch.exp(-d2 / (2 * layer.sigma[None, :, None, None] ** 2)).mean(-1) + 1e-12  # (N, V, J)
    total = torch.full(q.shape[:3], outlier).index_add_(1, layer.filter, lik)  # (N, F, J)
    return sv * lik / total[:, layer.filter]


def _m_step(layer: GraphLayer, q: torch.Tensor, w: torch.Tensor, parent_pos: torch.Tensor, k: int,
            min_sigma: float) -> GraphLayer:
    """M-step: offsets and variances of q_j - p_u for every candidate parent u; keep the K most rigid."""
    qv = q[:, layer.filter]  # (N, V, J, 2)
    wsum = w.sum(2)  # (N, V)
    norm = wsum.sum(0).clamp(min=1e-8)[:, None]  # (V, 1)
    wq = (w[..., None] * qv).sum(2)  # (N, V, 2)
    mean_q = wq.sum(0) / norm  # (V, 2)
    mean_p = torch.einsum("nv,nud->vud", wsum, parent_pos) / norm[..., None]  # (V, U, 2)
    second = (w * (qv**2).sum(-1)).sum((0, 2)) / norm[:, 0]  # (V,)  E||q||^2
    cross = torch.einsum("nvd,nud->vu", wq, parent_pos) / norm  # (V, U)  E[q . p_u]
    p2 = torch.einsum("nv,nu->vu", wsum, (parent_pos**2).sum(-1)) / norm  # (V, U)  E||p_u||^2
    offsets = mean_q[:, None] - mean_p  # (V, U, 2)
    var = ((second[:, None] - 2 * cross + p2) - (offsets**2).sum(-1)).clamp(min=0) / 2  # (V, U) per coordinate
    best = var.topk(min(k, var.shape[1]), dim=1, largest=False).indices  # (V, K)
    sigma = (var.gather(1, best).mean(1) + min_sigma**2).sqrt()
    return GraphLayer(layer.name, layer.filter, best, offsets.gather(1, best[..., None].expand(-1, -1, 2)),
                      sigma, layer.scale)


def _kmeans_init(q: torch.Tensor, s: torch.Tensor, root: torch.Tensor, m: int, gen: torch.Generator) -> torch.Tensor:
    """Initial node offsets from the root: weighted k-means of q_j - root per filter, (F, M, 2)."""
    rel = (q - root[:, None, None]).permute(1, 0, 2, 3).flatten(1, 2)  # (N, F, J, 2) -> (F, N*J, 2)
    wt = s.permute(1, 0, 2).flatten(1)  # (F, N*J)
    pick = torch.multinomial(wt + 1e-8, m, replacement=False, generator=gen)  # (F, M) seeds from strong entities
    centres = rel.gather(1, pick[..., None].expand(-1, -1, 2))  # (F, M, 2)
    for _ in range(10):
        assign = torch.cdist(rel, centres).argmin(-1)  # (F, N*J)
        onehot = torch.nn.functional.one_hot(assign, m).float() * wt[..., None]  # (F, N*J, M)
        centres = torch.where(onehot.sum(1)[..., None] > 0,
                              torch.einsum("fnm,fnd->fmd", onehot, rel) / onehot.sum(1).clamp(min=1e-8)[..., None],
                              centres)
    return centres


@dataclass
class GraphOptions:
    """Mining options: nodes per filter, parents per node, EM iterations, peaks per map."""

    nodes_per_filter: int = 3
    parents: int = 3
    iterations: int = 4
    peaks: int = 3
    outlier: float = 0.1      # background likelihood, about a node's prior 2 sigma away
    seed: int = 0


def _init_layer(name: str, q: torch.Tensor, s: torch.Tensor, root: torch.Tensor, scale: torch.Tensor,
                opt: GraphOptions, stride: float, gen: torch.Generator) -> tuple[GraphLayer, torch.Tensor]:
    """A layer whose nodes hang from the root at k-means offsets, and its E-step weights (N, V, J)."""
    f, m = q.shape[1], opt.nodes_per_filter
    centres = _kmeans_init(q, s, root[:, 0], m, gen)  # (F, M, 2)
    filt = torch.arange(f).repeat_interleave(m)  # (V,) node -> filter
    v = len(filt)
    start = GraphLayer(name, filt, torch.zeros(v, 1, dtype=torch.long), centres.reshape(v, 1, 2),
                       torch.full((v,), 2 * stride), scale)
    return start, _responsibilities(start, q, s, root, opt.outlier)


def mine_layer(name: str, fmap: torch.Tensor, parent_pos: torch.Tensor, root: torch.Tensor, image_size: int,
               opt: GraphOptions, gen: torch.Generator) -> GraphLayer:
    """EM for one layer's nodes given the inferred positions (N, U, 2) of the layer above."""
    scale = fmap.flatten(2).amax(-1).mean(0).clamp(min=1e-6)  # (F,)
    q, s = local_peaks(fmap, opt.peaks, image_size)
    s = s / scale[None, :, None]
    stride = image_size / fmap.shape[-1]
    layer, w = _init_layer(name, q, s, root, scale, opt, stride, gen)
    for _ in range(opt.iterations):
        layer = _m_step(layer, q, w, parent_pos, opt.parents, min_sigma=stride)
        w = _responsibilities(layer, q, s, parent_pos, opt.outlier)
    return layer


def mine_graph(maps: dict[str, torch.Tensor], image_size: int, opt: GraphOptions | None = None) -> list[GraphLayer]:
    """Mine the layers of `maps` (ordered top-down, each (N, C, h, w)) into an explanatory graph."""
    opt = opt or GraphOptions()
    gen = torch.Generator().manual_seed(opt.seed)
    root = weighted_centroid(next(iter(maps.values())), image_size)[:, None]  # (N, 1, 2)
    parent_pos, layers = root, []
    for name, fmap in maps.items():
        layer = mine_layer(name, fmap, parent_pos, root, image_size, opt, gen)
        layers.append(layer)
        parent_pos, _ = node_scores(layer, fmap, parent_pos, image_size)
    return layers


def infer_graph(layers: list[GraphLayer], maps: dict[str, torch.Tensor], image_size: int) -> dict[str, tuple]:
    """Top-down inference: layer name -> (positions (N, V, 2) px, scores (N, V))."""
    parent_pos = weighted_centroid(maps[layers[0].name], image_size)[:, None]  # the root, (N, 1, 2)
    out = {}
    for layer in layers:
        out[layer.name] = node_scores(layer, maps[layer.name], parent_pos, image_size)
        parent_pos = out[layer.name][0]
    return out


def graph_from_state(states: list[dict]) -> list[GraphLayer]:
    """Rebuild the layers from their checkpoint states."""
    return [GraphLayer(**state) for state in states]
