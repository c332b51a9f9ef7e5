"""Giving freed memory back to the operating system between the stages of a run (peak memory, issue 11).

Training frees many mid-sized tensors; glibc's malloc keeps their pages in its heaps, so the resident size
stays at its high-water mark and the next stage (final fit, figures) piles on top of it. `malloc_trim`
returns those free pages; nothing that is still referenced is touched.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def c_library() -> ctypes.CDLL | None:
    """The process's C library (glibc's functions where it is glibc), or None where none is found."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None


def map_large_allocations(threshold: int) -> None:
    """Serve every allocation above `threshold` bytes with its own memory map, returned to the OS when it is
    freed (glibc's `mallopt(M_MMAP_THRESHOLD)`; elsewhere a no-op). glibc otherwise raises the threshold as large
    blocks are freed and keeps them in its heap: a short-lived worker process then holds its training's
    high-water mark on top of the pages it shares with its parent."""
    libc = c_library()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, threshold)


def release_freed_memory() -> None:
    """Collect garbage, then return free heap pages to the OS (glibc only; elsewhere a no-op)."""
    gc.collect()
    libc = c_library()
    if libc is not None and hasattr(libc, "malloc_trim"):  # glibc only (not macOS, Windows, musl)
        libc.malloc_trim(0)
