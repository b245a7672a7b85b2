"""The sharded feature store: rows read by index across shards, in any order, with bounded open files."""
import pickle

import numpy as np
import pytest
import torch

from iin import cache
from iin.cache import ShardedArray, ShardWriter
from iin.errors import DataError


def _store(folder, n=50, shape=(3, 2), dtype="float32", rows=7):
    values = torch.randn(n, *shape, generator=torch.Generator().manual_seed(0))
    row_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    writer = ShardWriter(folder, n, shape, dtype, rows * row_bytes, "fp")
    for start in range(0, n, 9):
        writer.write(start, values[start:start + 9])
    return values, ShardedArray(folder)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_rows_come_back_in_the_order_asked_across_shards(tmp_path, dtype):
    values, store = _store(tmp_path / "a", dtype=dtype)
    expected = values.numpy().astype(dtype).astype(np.float32)
    idx = torch.tensor([49, 0, 1, 2, 3, 13, 14, 7, 7, 48, 20])  # runs, shard borders, repeats, the last row
    got = store.read(idx)
    assert got.dtype == torch.float32 and got.shape == (11, 3, 2)
    assert np.array_equal(got.numpy(), expected[idx.numpy()])
    assert np.array_equal(torch.cat(list(store.chunks(16))).numpy(), expected)
    assert store.read([]).shape == (0, 3, 2)


def test_open_files_stay_bounded_and_do_not_travel(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "OPEN_SHARDS", 3)
    values, store = _store(tmp_path / "a", rows=2)  # 25 shards
    for s in range(25):
        store.read([2 * s])
        assert len(store._files) <= 3
    clone = pickle.loads(pickle.dumps(store))
    assert clone._files == {} and torch.equal(clone.read([5, 6]), store.read([5, 6]))


def test_a_truncated_shard_is_named_as_corrupt(tmp_path):
    _, store = _store(tmp_path / "a")
    shard = tmp_path / "a" / "shard-00001.npy"
    shard.write_bytes(shard.read_bytes()[:-10])
    store.read([0])  # shard 0 is whole
    with pytest.raises(DataError, match=r"shard-00001\.npy is corrupt"):
        store.read([13])
