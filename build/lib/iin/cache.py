"""Fixed-size, memory-mapped shards of per-image arrays: the storage of the feature cache.

One array (a key: `mean`, `logvar` or a layer) of one split lives in a folder of `shard-NNNNN.npy` files of
`rows` rows each, plus `meta.json` (fingerprint, dtype, per-row shape, n, rows, complete). A shard is written
to a temporary file and renamed when full, so a killed extraction leaves only whole shards, which the next run
keeps. Rows are read by index through short-lived numpy memmaps (opened per read, closed after the gather):
memory is one batch, and the operating system's page cache, not the process, holds the rest.

numpy's .npy files rather than safetensors or zarr: a plain header plus raw rows, so any row is one offset away
with numpy alone, float16 included, and a shard is valid exactly when its rename happened.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .errors import DataError

FORMAT = 2  # bump when the layout changes: caches of another format are rebuilt


def _shard(folder: Path, s: int) -> Path:
    return folder / f"shard-{s:05d}.npy"


def storage_error(folder: Path, err: OSError) -> DataError:
    """A full or read-only disk as one line that says what to do."""
    what = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied", errno.EDQUOT: "the disk quota is exceeded"}.get(err.errno, str(err))
    return DataError(f"cannot write the feature cache in {folder}: {what}; free space, set cache.dir to a writable "
                     f"folder, use cache.dtype=float16, or train without a cache (invariance.mode=recompute)")


class ShardedArray:
    """Read side: `len`, per-row `shape`, `read(idx)` -> float32 tensor, `chunks(n)` in order."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        meta = json.loads((self.folder / "meta.json").read_text())
        self.n, self.rows, self.shape, self.dtype = meta["n"], meta["rows"], tuple(meta["shape"]), meta["dtype"]

    def __len__(self) -> int:
        return self.n

    def read(self, idx: torch.Tensor | list[int]) -> torch.Tensor:
        """Rows idx (k,) as float32 (k, *shape), in the order given."""
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        out = np.empty((len(idx), *self.shape), dtype=np.float32)
        shard_of = (idx // self.rows).numpy()
        for s in np.unique(shard_of):
            sel = np.flatnonzero(shard_of == s)
            rows = idx.numpy()[sel] - s * self.rows
            out[sel] = self._rows(int(s), rows)
        return torch.from_numpy(out)

    def _rows(self, s: int, rows: np.ndarray) -> np.ndarray:
        """Rows of shard s, copied out of a short-lived memory map (never unpickled)."""
        path = _shard(self.folder, s)
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
            if data.shape[1:] != self.shape or data.dtype != np.dtype(self.dtype):
                raise ValueError(f"holds {data.dtype} rows of shape {data.shape[1:]}, not {self.dtype} {self.shape}")
            return np.asarray(data[rows])
        except (ValueError, OSError, IndexError) as err:
            raise DataError(f"feature cache shard {path} is corrupt ({err}); delete {self.folder.parent.parent} "
                            f"and rerun: the cache is rebuilt") from None

    def chunks(self, size: int = 4096) -> Iterator[torch.Tensor]:
        """All rows in order, `size` at a time (statistics over the split with bounded memory)."""
        for start in range(0, self.n, size):
            yield self.read(torch.arange(start, min(start + size, self.n)))


class ShardWriter:
    """Write side: rows arrive in order (`write(first_row, values)`); rows already on disk are skipped."""

    def __init__(self, folder: Path, n: int, shape: tuple[int, ...], dtype: str, shard_bytes: int, fingerprint: str):
        self.folder, self.n, self.shape, self.dtype = Path(folder), n, tuple(shape), np.dtype(dtype)
        row_bytes = max(1, int(np.prod(shape)) * self.dtype.itemsize)
        self.rows = max(1, min(n, shard_bytes // row_bytes))
        self.meta = {"format": FORMAT, "fingerprint": fingerprint, "n": n, "rows": self.rows, "shape": list(shape),
                     "dtype": self.dtype.name, "complete": False}
        self.n_shards = -(-n // self.rows)
        self.done = self._resume()
        self._open: tuple[int, np.memmap] | None = None

    def _resume(self) -> int:
        """Rows already written by an earlier, interrupted extraction of the same fingerprint and layout."""
        meta_path = self.folder / "meta.json"
        old = json.loads(meta_path.read_text()) if meta_path.is_file() else None
        if old != self.meta:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_meta()
        for tmp in self.folder.glob("*.tmp"):
            tmp.unlink()
        s = 0
        while s < self.n_shards and _shard(self.folder, s).is_file():
            s += 1
        return min(self.n, s * self.rows)

    def _write_meta(self) -> None:
        tmp = self.folder / "meta.json.tmp"
        tmp.write_text(json.dumps(self.meta))
        os.replace(tmp, self.folder / "meta.json")

    def write(self, first: int, values: torch.Tensor) -> None:
        """Rows first .. first+len(values)-1, which continue the rows written so far (any float dtype)."""
        data = values.detach().cpu().numpy().astype(self.dtype, copy=False)
        j = max(0, self.done - first)  # rows already on disk from an interrupted extraction
        while j < len(data):
            s, r = divmod(first + j, self.rows)
            shard = self._shard_map(s)
            take = min(len(data) - j, shard.shape[0] - r)
            shard[r:r + take] = data[j:j + take]
            j += take
            self.done = first + j
            if r + take == shard.shape[0]:
                self._finish(s)

    def _shard_map(self, s: int) -> np.memmap:
        if self._open is None or self._open[0] != s:
            rows = min(self.rows, self.n - s * self.rows)
            tmp = _shard(self.folder, s).with_suffix(".npy.tmp")
            self._open = (s, np.lib.format.open_memmap(tmp, mode="w+", dtype=self.dtype, shape=(rows, *self.shape)))
        return self._open[1]

    def _finish(self, s: int) -> None:
        mm = self._open[1]
        mm.flush()
        self._open = None
        del mm
        os.replace(_shard(self.folder, s).with_suffix(".npy.tmp"), _shard(self.folder, s))
        if s == self.n_shards - 1:
            self.meta["complete"] = True
            self._write_meta()


def is_complete(folder: Path, fingerprint: str) -> bool:
    """True when `folder` holds a finished array of this fingerprint and format."""
    path = Path(folder) / "meta.json"
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text())
    except ValueError:
        return False
    return meta.get("complete") is True and meta.get("fingerprint") == fingerprint and meta.get("format") == FORMAT
