"""Giving freed memory back to the operating system between the stages of a run (peak memory, issue 11).

Training frees many mid-sized tensors; glibc's malloc keeps their pages in its heaps, so the resident size
stays at its high-water mark and the next stage (final fit, figures) piles on top of it. `malloc_trim`
returns those free pages; nothing that is still referenced is touched.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc


def release_freed_memory() -> None:
    """Collect garbage, then return free heap pages to the OS (glibc only; elsewhere a no-op)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc (macOS, Windows, musl)
        pass
