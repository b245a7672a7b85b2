"""Big data as tar shards: `<root>/<split>/*.tar`, each sample a `<key>.<png|jpg|...>` image and a `<key>.json` of its
integer factors (`label` among them) — the layout webdataset reads and writes.

webdataset streams shards in order; iin also needs random access (seeded evaluation subsets, concept pairs), so
`TarShards` indexes every member's offset once (tar headers only) and reads an item with one seek, decoding lazily
in DataLoader workers. `write_shards` turns any iin dataset into such shards.
"""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..errors import DataError, DataNotFoundError
from .access import Labelled, iter_batches
from .folders import IMAGE_SUFFIXES, decode_image


def _index(shard: Path) -> list[tuple[str, str, int, int, bytes | None]]:
    """(key, extension, data offset, size, json bytes or None) per member of one tar."""
    out = []
    with tarfile.open(shard) as tar:
        for m in tar:
            if not m.isfile():
                continue
            key, _, ext = m.name.partition(".")
            meta = tar.extractfile(m).read() if ext == "json" else None
            out.append((key, ext, m.offset_data, m.size, meta))
    return out


class TarShards(Labelled):
    """Samples of `<root>/<split>/*.tar` by index; label factor `label`, every other json key is a factor."""

    label = "label"

    def __init__(self, root: str, split: str, size: int = 32, channels: int = 3):
        folder = Path(root).expanduser() / split
        self.shards = sorted(folder.glob("*.tar")) if folder.is_dir() else []
        if not self.shards:
            raise DataNotFoundError(f"no tar shards under {folder} (data.options.root/{split}/*.tar); write them with "
                                    f"iin.data.write_shards")
        self.size, self.channels = size, channels
        self.items: list[tuple[int, int, int, str]] = []  # (shard, offset, size, name)
        rows: list[dict] = []
        for s, shard in enumerate(self.shards):
            images, metas = {}, {}
            for key, ext, offset, length, meta in _index(shard):
                if f".{ext.lower()}" in IMAGE_SUFFIXES:
                    images[key] = (offset, length, f"{shard.name}:{key}.{ext}")
                elif meta is not None:
                    metas[key] = json.loads(meta)
            for key in images:
                if key not in metas:
                    raise DataError(f"{shard}: sample {key!r} has an image but no {key}.json with its label")
                offset, length, name = images[key]
                self.items.append((s, offset, length, name))
                rows.append(metas[key])
        names = list(rows[0])
        if "label" not in names:
            raise DataError(f"{self.shards[0]}: the json of each sample needs a `label` key, got {names}")
        self.factors = {n: torch.tensor([int(r[n]) for r in rows], dtype=torch.long) for n in names}
        self._files: dict[int, tuple[int, object]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, shard: int, offset: int, length: int) -> bytes:
        pid = os.getpid()  # one open file per shard and process: DataLoader workers must not share offsets
        cached = self._files.get(shard)
        if cached is None or cached[0] != pid:
            self._files[shard] = cached = (pid, open(self.shards[shard], "rb"))
        fh = cached[1]
        fh.seek(offset)
        return fh.read(length)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        shard, offset, length, name = self.items[int(i)]
        try:
            image = decode_image(io.BytesIO(self._read(shard, offset, length)), self.size, self.channels, name)
        except (OSError, ValueError, SyntaxError) as err:
            raise DataError(f"cannot read image {name} ({err})") from None
        item = {"image": image, "index": torch.tensor(int(i))}
        item.update({k: v[int(i)] for k, v in self.factors.items()})
        return item

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_files": {}}  # open files stay with the process that opened them


def write_shards(dataset: Dataset, folder: str | Path, shard_size: int = 1000, batch_size: int = 256) -> list[Path]:
    """Write every item of `dataset` as PNG + json (its factors) into `folder/shard-NNNNNN.tar`; returns the shards."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = ["label", *[n for n in getattr(dataset, "factor_names", []) if n != "label"]]
    shards, tar = [], None
    for batch in iter_batches(dataset, batch_size):
        for j, image in enumerate(batch["image"]):
            i = int(batch["index"][j])
            if i % shard_size == 0:
                tar = tar.close() if tar else None
                shards.append(folder / f"shard-{i // shard_size:06d}.tar")
                tar = tarfile.open(shards[-1], "w")
            pixels = (image.permute(1, 2, 0) * 255).round().byte().squeeze(-1).numpy()  # (C, H, W) -> (H, W[, C])
            png = io.BytesIO()
            Image.fromarray(pixels).save(png, format="PNG")
            meta = json.dumps({n: int(batch[n][j]) for n in names if n in batch}).encode()
            for ext, data in (("png", png.getvalue()), ("json", meta)):
                info = tarfile.TarInfo(f"{i:09d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    if tar:
        tar.close()
    return shards
