"""The run's thread budget, applied to every thread pool in the process: torch's and the BLAS under numpy,
scipy and scikit-learn.

`train.threads` sets torch's intra-op threads; without this the BLAS libraries (OpenBLAS, one copy under numpy and
another under scipy) keep one busy-waiting thread per core. On a shared 2-core machine the forecasting baselines'
ridge fits then took 8x the CPU time (9.9 s against 1.2 s for the default covid-lstm's 30 fits at load 7,
benchmarks/bench_profile_forecast.py).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits

BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # read by a BLAS library when it is loaded


@contextmanager
def thread_budget(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` torch and BLAS threads (None: leave them as they are), then restore torch's
    and the loaded libraries' counts. A BLAS first loaded inside the block (scipy's, imported lazily) reads the
    environment variables set here and keeps that count."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads(), {name: os.environ.get(name) for name in BLAS_VARIABLES}
    torch.set_num_threads(threads)
    os.environ.update({name: str(threads) for name in BLAS_VARIABLES})
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(previous[0])
        for name, value in previous[1].items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
