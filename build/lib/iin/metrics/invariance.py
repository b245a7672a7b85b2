"""Ground-truth metrics of a layer's invariances (ARCHITECTURE section 6)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of flattened representations, per example."""
    return F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)  # (B, ...) -> (B,)


def entropy(labels: torch.Tensor, num_values: int) -> torch.Tensor:
    """Entropy (nats) of the empirical distribution of each row of integer labels (R, S)."""
    counts = F.one_hot(labels, num_values).sum(1).float()  # (R, S) -> (R, V)
    p = counts / counts.sum(1, keepdim=True)
    return -(p * p.clamp_min(1e-12).log()).sum(1)


def invariance_score(sample_readouts: torch.Tensor, population: torch.Tensor, num_values: int,
                     draws: int = 2000, seed: int = 0) -> float:
    """Mean entropy of readouts over each input's S samples / mean entropy of S random population draws.

    sample_readouts: (N, S) readouts of the samples of each input; population: (M,) readouts of the data.
    About 1: the layer ignores the factor; about 0: the layer determines it.
    """
    s = sample_readouts.shape[1]
    gen = torch.Generator().manual_seed(seed)
    random_rows = population[torch.randint(len(population), (draws, s), generator=gen)]
    reference = entropy(random_rows, num_values).mean()
    return float(entropy(sample_readouts, num_values).mean() / reference.clamp_min(1e-12))


def explained_variance_share(samples: torch.Tensor, total_variance: torch.Tensor) -> float:
    """Share of Var(zbar) that v explains: median over inputs of sum_d Var_s(zbar_s) / sum_d Var_data(zbar).

    samples: (N, S, D) latents tau^-1(v_s | z(x_n)); total_variance: (D,) variance over the data.
    The median, because an attacked input far outside the training distribution can make the
    inverse flow explode for a few images and dominate a mean.
    """
    return float(samples.var(1).sum(1).median() / total_variance.sum())
