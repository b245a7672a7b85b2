"""glibc's allocator held steady for training loops.

glibc serves a block of at least M_MMAP_THRESHOLD bytes with a fresh memory map and unmaps it when it is freed,
and returns the top of the heap to the system above M_TRIM_THRESHOLD: a training step that allocates and frees
the same few-MB tensors then faults their pages in again at every step. glibc raises both thresholds by itself
only after a block below 32 MB happens to be freed, so the speed of a training loop depended on the size of an
unrelated earlier read (the feature statistics read a whole chunk of rows at once, larger on more data). Fixed
thresholds keep such blocks in the heap for the whole run. Nothing changes where the C library has no mallopt.
"""
from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
MMAP_BYTES = 64 << 20  # blocks below this come from the heap: every activation and batch of a step
TRIM_BYTES = 128 << 20  # free heap kept for the next step before any of it goes back to the system


@functools.cache
def steady_allocator() -> bool:
    """Fix both thresholds for this process (once); False where the C library has no mallopt."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
