"""User data: an image folder (optionally with a CSV of attributes) and torchvision datasets on disk."""
from __future__ import annotations

import csv
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..errors import DataError, DataNotFoundError
from .tensor_dataset import FactorDataset


def _load_images(paths: list[Path], size: int, channels: int) -> torch.Tensor:
    from PIL import Image
    from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

    mode = {1: "L", 3: "RGB"}[channels]
    out = torch.empty(len(paths), channels, size, size)
    for i, p in enumerate(paths):
        try:
            img = pil_to_tensor(Image.open(p).convert(mode)).float() / 255
        except OSError as err:  # truncated or not an image: name the file
            raise DataError(f"cannot read image {p} ({err}); remove or replace it") from None
        out[i] = center_crop(resize(img, size, antialias=True), [size, size])
    return out


def _read_attributes(csv_path: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """CSV with a `file` column (relative path) and integer attribute columns."""
    with open(csv_path, newline="") as fh:
        rows = {row["file"]: row for row in csv.DictReader(fh)}
    missing = [n for n in names if n not in rows]
    if missing:
        raise ValueError(f"{csv_path} has no row for {missing[:3]} (and {max(0, len(missing) - 3)} more)")
    columns = [c for c in next(iter(rows.values())) if c != "file"]
    return {c: torch.tensor([int(rows[n][c]) for n in names]) for c in columns}


def imagefolder(root: str, split: str, size: int = 32, channels: int = 3,
                attributes: str | None = None, test_fraction: float = 0.2, seed: int = 0) -> FactorDataset:
    """`root/<class>/*.png` (or `root/train|test/<class>/...`), loaded into memory, label `class`."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataNotFoundError(f"image folder {base} does not exist; set data.options.root to a folder of <class>/<image> files")
    split_dir = base / split
    folder = split_dir if split_dir.is_dir() else base
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    files = [(p, c) for c, name in enumerate(classes) for p in sorted((folder / name).iterdir())
             if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".webp"}]
    if not files:
        raise DataNotFoundError(f"no images found under {folder}/<class>/")
    if not split_dir.is_dir():  # deterministic split of one folder
        perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
        n_test = int(round(test_fraction * len(files)))
        keep = perm[:n_test] if split == "test" else perm[n_test:]
        files = [files[i] for i in sorted(keep)]
    factors = {"class": torch.tensor([c for _, c in files])}
    if attributes:
        rel = [str(p.relative_to(base)) for p, _ in files]
        factors.update(_read_attributes(Path(attributes).expanduser(), rel))
    return FactorDataset(_load_images([p for p, _ in files], size, channels), factors, label="class")


class TorchvisionDataset(Dataset):
    """A torchvision classification dataset at a local root, items as dicts like FactorDataset."""

    def __init__(self, name: str, root: str, split: str, size: int = 32, download: bool = False):
        import torchvision
        from torchvision import transforms as T

        cls = getattr(torchvision.datasets, name, None)
        if cls is None:
            raise ValueError(f"torchvision has no dataset {name!r}")
        tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor()])
        try:
            self.base = cls(root=str(Path(root).expanduser()), train=split == "train", transform=tf, download=download)
        except RuntimeError as err:
            raise DataNotFoundError(
                f"torchvision dataset {name} not found under {root} ({err}). Downloads are off by default: "
                f"fetch it once on a machine with internet (torchvision.datasets.{name}(root, download=True)) "
                f"and copy it to {root}, or set data.download=true") from None
        targets = getattr(self.base, "targets", None)
        self.factors = {"label": torch.as_tensor(targets)} if targets is not None else {}
        self.label = "label"

    @property
    def labels(self) -> torch.Tensor:
        return self.factors["label"]

    @property
    def num_classes(self) -> int:
        return len(self.base.classes)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image, label = self.base[i]
        return {"image": image, "label": torch.tensor(label), "index": torch.tensor(i)}
