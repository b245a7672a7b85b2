"""Fixed-size, memory-mapped shards of per-image arrays: the storage of the feature cache.

One array (a key: `mean`, `logvar` or a layer) of one split lives in a folder of `shard-NNNNN.npy` files of
`rows` rows each, plus `meta.json` (fingerprint, dtype, per-row shape, n, rows, complete). A shard is written
to a temporary file and renamed when full, so a killed extraction leaves only whole shards, which the next run
keeps. Rows are read by index with positional reads (`os.preadv`, one per run of consecutive rows) straight into
the batch: memory is one batch, and the operating system's page cache, not the process, holds the rest. Not
memory maps: a map held open counts every page it touched in the process's RSS, and a map opened per read faults
its pages in afresh and leaves glibc's allocator thresholds to drift, which slowed training on large caches.

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
OPEN_SHARDS = 32  # descriptors one array keeps open (of a soft limit of 1,024 per process on most systems)


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
        self._files: dict[int, tuple[int, int]] = {}  # shard -> (descriptor, offset of row 0), opened on first read

    def __len__(self) -> int:
        return self.n

    def read(self, idx: torch.Tensor | list[int]) -> torch.Tensor:
        """Rows idx (k,) as float32 (k, *shape), in the order given."""
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1).numpy()
        raw = np.empty((len(idx), *self.shape), dtype=self.dtype)
        if len(idx):
            flat = raw.reshape(len(idx), -1).view(np.uint8)
            shard, row = np.divmod(idx, self.rows)
            cut = np.flatnonzero((np.diff(idx) != 1) | (np.diff(shard) != 0)) + 1  # a run: consecutive, one shard
            for a, b in zip(np.r_[0, cut], np.r_[cut, len(idx)]):
                self._pread(int(shard[a]), int(row[a]), flat[a:b])
        return torch.from_numpy(raw).float()

    def _pread(self, s: int, row: int, out: np.ndarray) -> None:
        """Fill out (k rows as bytes) from shard s, rows row .. row+k-1."""
        fd, offset = self._file(s)
        view, at = memoryview(out).cast("B"), offset + row * out.shape[1]
        while view.nbytes:
            got = os.preadv(fd, [view], at)
            if got == 0:
                raise self._corrupt(s, "is shorter than its header says")
            view, at = view[got:], at + got

    def _file(self, s: int) -> tuple[int, int]:
        """The open descriptor of shard s and the byte offset of its first row (header checked on opening). The
        OPEN_SHARDS most recently read stay open: a cache of thousands of shards stays under the descriptor limit."""
        if s in self._files:
            self._files[s] = self._files.pop(s)  # most recent last
        else:
            if len(self._files) >= OPEN_SHARDS:
                os.close(self._files.pop(next(iter(self._files)))[0])
            path = _shard(self.folder, s)
            try:
                with open(path, "rb") as f:
                    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                                   (2, 0): np.lib.format.read_array_header_2_0}[np.lib.format.read_magic(f)]
                    shape, _, dtype = read_header(f)
                    offset = f.tell()
            except (ValueError, OSError, KeyError) as err:
                raise self._corrupt(s, f"({err!r})") from None
            if tuple(shape[1:]) != self.shape or dtype != np.dtype(self.dtype):
                raise self._corrupt(s, f"(holds {dtype} rows of shape {tuple(shape[1:])}, not {self.dtype} "
                                       f"{self.shape})")
            self._files[s] = (os.open(path, os.O_RDONLY), offset)
        return self._files[s]

    def _corrupt(self, s: int, why: str) -> DataError:
        return DataError(f"feature cache shard {_shard(self.folder, s)} is corrupt {why}; delete "
                         f"{self.folder.parent.parent} and rerun: the cache is rebuilt")

    def close(self) -> None:
        for fd, _ in getattr(self, "_files", {}).values():
            os.close(fd)
        self._files = {}

    def __del__(self) -> None:
        self.close()

    def __getstate__(self) -> dict:
        """Descriptors do not travel to another process: a spawned worker opens its own."""
        return {**self.__dict__, "_files": {}}

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
