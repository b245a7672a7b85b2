"""Part-annotated shapes: objects made of a head, a body and a tail, with clutter and negative images.

Every object of category k (1..K) is three primitives in a fixed layout along its axis,
head at +1.05, body at 0, tail at -1.05 (object units), under random translation, scale, small
rotation and per-part jitter. Label 0 is a negative image (clutter only). Each example carries its
part masks `part_masks` (N, 3, H, W) and part landmarks `landmarks` (N, 3, 2), the part centres
in pixels (x, y); negatives have empty masks and NaN landmarks. Rendering is vectorised in torch
and reproducible from a seed.
"""
from __future__ import annotations

import math

import torch

from .colormnist import palette
from .tensor_dataset import FactorDataset

PARTS = ("head", "body", "tail")
PRIMITIVES = ("disc", "square", "triangle")
# Category k (1-based) -> per part (primitive, half-extent along the axis, half-extent across it).
LAYOUTS = (
    ((0, 0.45, 0.45), (1, 0.60, 0.22), (2, 0.45, 0.45)),  # disc head, bar body, triangle tail
    ((1, 0.40, 0.40), (1, 0.60, 0.22), (0, 0.45, 0.45)),  # square head, bar body, disc tail
    ((2, 0.45, 0.45), (1, 0.60, 0.15), (1, 0.40, 0.40)),  # triangle head, thin bar, square tail
)
OFFSETS = (1.05, 0.0, -1.05)  # part centres along the object axis, object units
N_COLORS = 8
MAX_ROTATION = math.radians(25)  # small rotation: the layout stays recognisably horizontal
PART_JITTER = 0.08  # std of each part's displacement, object units


def _primitive(kind: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Membership of frame points (N, H, W) in the unit disc / square / triangle pointing to +x."""
    k = kind[:, None, None]
    disc = px**2 + py**2 <= 1.0
    square = torch.maximum(px.abs(), py.abs()) <= 1.0
    triangle = (px >= -1.0) & (py.abs() <= (1.0 - px) / 2)
    return torch.where(k == 0, disc, torch.where(k == 1, square, triangle))


def draw(kind: torch.Tensor, centre: torch.Tensor, half: torch.Tensor, theta: torch.Tensor,
         size: int) -> torch.Tensor:
    """Masks (N, H, W) of primitives at `centre` (N, 2) px with half-extents `half` (N, 2) px, angle theta (N,)."""
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    qy, qx = torch.meshgrid(coords, coords, indexing="ij")  # (H, W) each
    dx, dy = qx[None] - centre[:, 0, None, None], qy[None] - centre[:, 1, None, None]  # (N, H, W)
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    px = (cos * dx + sin * dy) / half[:, 0, None, None]  # rotate by -theta into the part frame
    py = (-sin * dx + cos * dy) / half[:, 1, None, None]
    return _primitive(kind, px, py)


def _poses(n: int, size: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Object scale (px per object unit), rotation and centre for n objects."""
    base = size / 7.0
    scale = base * (0.8 + 0.4 * torch.rand(n, generator=gen))
    theta = (2 * torch.rand(n, generator=gen) - 1) * MAX_ROTATION
    margin = 1.6 * scale  # half the object's length plus a little
    centre = margin[:, None] + (size - 2 * margin[:, None]) * torch.rand(n, 2, generator=gen)
    return scale, theta, centre


def _object_parts(category: torch.Tensor, size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Part masks (N, 3, H, W) and part centres (N, 3, 2) of the objects of `category` (1-based)."""
    n = len(category)
    layout = torch.tensor(LAYOUTS)[(category - 1).clamp(min=0)]  # (N, 3 parts, 3 = kind, ha, hc)
    scale, theta, centre = _poses(n, size, gen)
    axis = torch.stack([theta.cos(), theta.sin()], dim=-1)  # (N, 2)
    normal = torch.stack([-theta.sin(), theta.cos()], dim=-1)
    jitter = PART_JITTER * torch.randn(n, 3, 2, generator=gen)  # (N, 3, 2), object units
    grow = 0.9 + 0.2 * torch.rand(n, 3, generator=gen)
    masks, centres = [], []
    for p, offset in enumerate(OFFSETS):
        along, across = offset + jitter[:, p, 0], jitter[:, p, 1]
        c = centre + scale[:, None] * (along[:, None] * axis + across[:, None] * normal)  # (N, 2)
        half = layout[:, p, 1:] * (scale * grow[:, p])[:, None]  # (N, 2)
        masks.append(draw(layout[:, p, 0].long(), c, half, theta, size))
        centres.append(c)
    return torch.stack(masks, 1), torch.stack(centres, 1)


def _clutter(n: int, count: int, size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` random primitives per image: masks (N, count, H, W) and colour indices (N, count)."""
    base = size / 7.0
    kinds = torch.randint(len(PRIMITIVES), (n, count), generator=gen)
    half = base * (0.3 + 0.2 * torch.rand(n, count, 1, generator=gen)).expand(-1, -1, 2)
    centre = size * torch.rand(n, count, 2, generator=gen)
    theta = 2 * math.pi * torch.rand(n, count, generator=gen)
    colors = torch.randint(N_COLORS, (n, count), generator=gen)
    masks = [draw(kinds[:, j], centre[:, j], half[:, j], theta[:, j], size) for j in range(count)]
    return torch.stack(masks, 1) if masks else torch.zeros(n, 0, size, size, dtype=torch.bool), colors


def render_parts(category: torch.Tensor, size: int, clutter: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Images (N, 3, H, W), object masks, part masks and landmarks for `category` (0 = negative)."""
    n = len(category)
    part_masks, landmarks = _object_parts(category, size, gen)
    positive = (category > 0)[:, None, None, None]
    part_masks = part_masks & positive  # negatives carry no object
    landmarks = torch.where(positive[:, :, 0], landmarks, torch.full_like(landmarks, float("nan")))
    colors = palette(N_COLORS)
    images = 0.05 * torch.rand(n, 3, size, size, generator=gen)  # faint background noise
    c_masks, c_colors = _clutter(n, clutter, size, gen)
    for j in range(clutter):  # clutter first, the object is drawn over it
        images = torch.where(c_masks[:, j, None], colors[c_colors[:, j]][:, :, None, None], images)
    color = torch.randint(N_COLORS, (n,), generator=gen)
    obj = part_masks.any(1, keepdim=True)  # (N, 1, H, W)
    images = torch.where(obj, colors[color][:, :, None, None], images)
    return {"images": images, "masks": obj, "part_masks": part_masks, "landmarks": landmarks, "color": color}


def parts(split: str, n: int | None = None, size: int = 48, categories: int = 1, negatives: float = 0.4,
          clutter: int = 3, seed: int = 0) -> FactorDataset:
    """A reproducible split: `n` images (2,400 train / 800 test by default), a `negatives` share of them negative."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not 1 <= categories <= len(LAYOUTS):
        raise ValueError(f"categories must be in 1..{len(LAYOUTS)}, got {categories}")
    n = n or (2400 if split == "train" else 800)
    gen = torch.Generator().manual_seed(seed + (0 if split == "train" else 10_000))
    category = torch.randint(1, categories + 1, (n,), generator=gen)
    category[torch.rand(n, generator=gen) < negatives] = 0
    out = render_parts(category, size, clutter, gen)
    return FactorDataset(out["images"], {"category": category, "color": out["color"]}, label="category",
                         masks=out["masks"], extras={"part_masks": out["part_masks"], "landmarks": out["landmarks"]})
