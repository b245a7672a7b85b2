"""Metrics of Zhang et al.: location instability, part interpretability, few-shot part localisation."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def triggered(scores: torch.Tensor, share: float = 0.5) -> torch.Tensor:
    """Per unit, the images (N, U) whose score is in the unit's top `share` (where the unit fires)."""
    k = max(1, int(share * scores.shape[0]))
    threshold = scores.topk(k, dim=0).values[-1]  # (U,)
    return (scores >= threshold[None]) & (scores > 0)


def location_instability(pos: torch.Tensor, landmarks: torch.Tensor, valid: torch.Tensor, image_size: int,
                         min_images: int = 5) -> torch.Tensor:
    """Per unit: mean over landmarks k of std_I(||p_u(I) - l_k(I)|| / diagonal), over the valid images.

    pos (N, U, 2) and landmarks (N, P, 2) in pixels, valid (N, U); units with fewer than
    `min_images` valid images get NaN. Lower is more stable (AAAI 2018, section 5).
    """
    dist = (pos[:, :, None] - landmarks[:, None]).norm(dim=-1) / (image_size * math.sqrt(2))  # (N, U, P)
    w = valid[..., None].float()
    count = w.sum(0)  # (U, 1)
    mean = (w * dist).sum(0) / count.clamp(min=1)
    var = (w * (dist - mean) ** 2).sum(0) / (count - 1).clamp(min=1)
    out = var.sqrt().mean(-1)  # (U,)
    return torch.where(count[:, 0] >= min_images, out, torch.full_like(out, math.nan))


def part_interpretability(fmap: torch.Tensor, part_masks: torch.Tensor, quantile: float = 0.995,
                          iou_threshold: float = 0.2, chunk: int = 8) -> tuple[torch.Tensor, ...]:
    """Per filter: max_k P_fk (the share of images with IoU(S_f, M_k) > 0.2), its part k, and max_k mean IoU.

    S_f(I) is the filter's map upsampled to the image and thresholded at the top (1 - quantile) of
    its activations over the data set (Bau et al. 2017, as used by the ICNN paper); fmap (N, C, h, w)
    and part_masks (N, P, H, W) over the positive images.
    """
    size = part_masks.shape[-2:]
    masks = part_masks.bool()[:, None]  # (N, 1, P, H, W)
    best_p, best_part, best_iou = [], [], []
    for x in fmap.split(chunk, dim=1):
        up = F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # (N, c, H, W)
        flat = up.transpose(0, 1).flatten(1)  # (c, N*H*W)
        k = max(1, int(round((1 - quantile) * flat.shape[1])))
        threshold = flat.topk(k, dim=1).values[:, -1]  # (c,)
        s = ((up >= threshold[None, :, None, None]) & (up > 0))[:, :, None]  # (N, c, 1, H, W)
        inter, union = (s & masks).sum((-1, -2)).float(), (s | masks).sum((-1, -2)).float()  # (N, c, P)
        iou = inter / union.clamp(min=1)
        p_fk = (iou > iou_threshold).float().mean(0)  # (c, P)
        best_p.append(p_fk.amax(-1))
        best_part.append(p_fk.argmax(-1))
        best_iou.append(iou.mean(0).amax(-1))
    return torch.cat(best_p), torch.cat(best_part), torch.cat(best_iou)


def unit_localisation(shot_pos: torch.Tensor, shot_target: torch.Tensor, test_pos: torch.Tensor,
                      select: int = 5) -> torch.Tensor:
    """Predict a part from unit positions: each unit u votes p_u + delta_u (delta_u its mean offset on
    the shots); the `select` units with the smallest error on the shots are averaged. Returns (N_test, 2).

    shot_pos (S, U, 2), shot_target (S, 2), test_pos (N, U, 2), all in pixels.
    """
    delta = (shot_target[:, None] - shot_pos).mean(0)  # (U, 2)
    shot_err = (shot_pos + delta - shot_target[:, None]).norm(dim=-1).mean(0)  # (U,)
    best = shot_err.topk(min(select, len(shot_err)), largest=False).indices
    return (test_pos[:, best] + delta[best]).mean(1)


def ridge_localisation(shot_feat: torch.Tensor, shot_target: torch.Tensor, test_feat: torch.Tensor,
                       alpha: float = 1.0) -> torch.Tensor:
    """Ridge regression y = ybar + (f - fbar) W on flat features (S, D) -> (N_test, 2), in the dual form.

    W = Fc^T (Fc Fc^T + alpha * mean(diag(Fc Fc^T)) I)^-1 (Y - ybar), Fc the centred shot features.
    """
    fbar, ybar = shot_feat.mean(0), shot_target.mean(0)
    fc = shot_feat - fbar  # (S, D)
    gram = fc @ fc.T  # (S, S)
    reg = alpha * gram.diagonal().mean().clamp(min=1e-8) * torch.eye(len(gram))
    coef = torch.linalg.solve(gram + reg, shot_target - ybar)  # (S, 2)
    return ybar + (test_feat - fbar) @ fc.T @ coef


def few_shot_error(predict, shot_sets: list[torch.Tensor], landmarks_train: torch.Tensor,
                   landmarks_test: torch.Tensor, image_size: int) -> float:
    """Mean over parts and shot sets of ||prediction - landmark|| / diagonal on the test images.

    `predict(shots, part)` returns test predictions (N_test, 2) from the training images `shots`.
    """
    errors = []
    for part in range(landmarks_test.shape[1]):
        for shots in shot_sets:
            pred = predict(shots, part)
            errors.append((pred - landmarks_test[:, part]).norm(dim=-1).mean() / (image_size * math.sqrt(2)))
    return float(torch.stack(errors).mean())
