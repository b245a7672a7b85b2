"""User data: an image folder (optionally with a CSV of attributes) and torchvision datasets on disk.

Both decode lazily, item by item (in DataLoader worker processes when a loader has workers): only the file list
and the labels are held in memory.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path

import torch

from ..errors import DataError, DataNotFoundError
from .access import Labelled

log = logging.getLogger("iin")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
BAD_IMAGES = ("stop", "skip")


def _read_attributes(csv_path: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """CSV with a `file` column (relative path) and integer attribute columns."""
    if not csv_path.is_file():
        raise DataNotFoundError(f"attribute file {csv_path} does not exist (data.options.attributes)")
    with open(csv_path, newline="") as fh:
        rows = {row["file"]: row for row in csv.DictReader(fh)}
    missing = [n for n in names if n not in rows]
    if missing:
        raise DataError(f"{csv_path} has no row for {missing[:3]} (and {max(0, len(missing) - 3)} more)")
    columns = [c for c in next(iter(rows.values())) if c != "file"]
    return {c: torch.tensor([int(rows[n][c]) for n in names]) for c in columns}


def decode_image(source, size: int, channels: int, name: str = "") -> torch.Tensor:
    """(C, size, size) in [0, 1] from a path or file object: converted to the channel count, shorter side resized
    to size, centre-cropped."""
    from PIL import Image
    from torchvision.transforms.functional import center_crop, pil_to_tensor, resize

    with Image.open(source) as img:
        img = img.convert({1: "L", 3: "RGB"}[channels])
        if min(img.size) < size:
            _warn_once(("small", size), f"images smaller than {size} px (e.g. {name or source}, "
                                        f"{img.size[0]}x{img.size[1]}) are upscaled to data.options.size={size}")
        img = center_crop(resize(img, size, antialias=True), [size, size])
        return pil_to_tensor(img).float() / 255


_WARNED: set = set()


def _warn_once(key: object, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(message)


def _class_files(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folders) and (file, class index) pairs; an empty class folder is an error."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = []
    for c, name in enumerate(classes):
        found = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DataError(f"class folder {folder / name} has no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                            f"add images or remove the folder (it would be a class that never occurs)")
        files += [(p, c) for p in found]
    if not files:
        raise DataNotFoundError(f"no images found under {folder}/<class>/ (data.options.root)")
    return classes, files


class ImageFolder(Labelled):
    """`root/<class>/*.png` (or `root/train|test/<class>/...`), decoded lazily; label factor `class`.

    Without train/ and test/ sub-folders the files are split deterministically (`test_fraction`, `seed`).
    An unreadable file stops with its name (`bad_images="stop"`) or is replaced by the next readable item
    with a warning (`"skip"`).
    """

    label = "class"

    def __init__(self, root: str, split: str, size: int = 32, channels: int = 3, attributes: str | None = None,
                 test_fraction: float = 0.2, seed: int = 0, bad_images: str = "stop"):
        base = Path(root).expanduser()
        if not base.is_dir():
            raise DataNotFoundError(f"image folder {base} does not exist; set data.options.root to a folder of "
                                    f"<class>/<image> files")
        if bad_images not in BAD_IMAGES:
            raise DataError(f"data.options.bad_images must be one of {BAD_IMAGES}, got {bad_images!r}")
        split_dir = base / split
        self.classes, files = _class_files(split_dir if split_dir.is_dir() else base)
        if not split_dir.is_dir():  # deterministic split of one folder
            perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
            n_test = int(round(test_fraction * len(files)))
            keep = perm[:n_test] if split == "test" else perm[n_test:]
            files = [files[i] for i in sorted(keep)]
        self.paths = [p for p, _ in files]
        self.size, self.channels, self.bad_images = size, channels, bad_images
        self.factors = {"class": torch.tensor([c for _, c in files], dtype=torch.long)}
        if attributes:
            rel = [str(p.relative_to(base)) for p in self.paths]
            self.factors.update(_read_attributes(Path(attributes).expanduser(), rel))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.paths)

    def _image(self, i: int) -> tuple[int, torch.Tensor]:
        for j in [*range(i, len(self)), *range(0, i)]:
            try:
                return j, decode_image(self.paths[j], self.size, self.channels)
            except (OSError, ValueError, SyntaxError) as err:  # PIL's errors for truncated or foreign files
                if self.bad_images == "stop":
                    raise DataError(f"cannot read image {self.paths[j]} ({err}); fix or remove it, or set "
                                    f"data.options.bad_images=skip") from None
                _warn_once(self.paths[j], f"skipping unreadable image {self.paths[j]} ({err})")
        raise DataError(f"no readable image among the {len(self)} files of this split")

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        j, image = self._image(int(i))
        item = {"image": image, "label": self.labels[j], "index": torch.tensor(int(i))}
        item.update({name: values[j] for name, values in self.factors.items()})
        return item


def imagefolder(root: str, split: str, **options) -> ImageFolder:
    """The `split` of an image folder (see ImageFolder)."""
    return ImageFolder(root, split, **options)


class TorchvisionDataset(Labelled):
    """A torchvision classification dataset at a local root, items as dicts like every iin dataset; label `label`."""

    label = "label"

    def __init__(self, name: str, root: str, split: str, size: int = 32, download: bool = False):
        import torchvision
        from torchvision import transforms as T

        cls = getattr(torchvision.datasets, name, None)
        if cls is None:
            raise DataError(f"torchvision has no dataset {name!r} (data.options.name)")
        tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor()])
        try:
            self.base = cls(root=str(Path(root).expanduser()), train=split == "train", transform=tf, download=download)
        except RuntimeError as err:
            raise DataNotFoundError(
                f"torchvision dataset {name} not found under {root} ({err}). Downloads are off by default: "
                f"fetch it once on a machine with internet (torchvision.datasets.{name}(root, download=True)) "
                f"and copy it to {root}, or set data.options.download=true") from None
        targets = getattr(self.base, "targets", None)
        if targets is None:
            raise DataError(f"torchvision dataset {name} has no `targets`; iin needs a labelled classification dataset")
        self.factors = {"label": torch.as_tensor(targets, dtype=torch.long)}

    @property
    def num_classes(self) -> int:
        return len(self.base.classes)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image, label = self.base[int(i)]
        return {"image": image, "label": torch.tensor(label), "index": torch.tensor(int(i))}
