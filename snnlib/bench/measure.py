"""Measuring: device sync, peak memory (CUDA allocator or sampled resident size), the input batch."""

from __future__ import annotations

import contextlib
import os
import threading

import torch

from ..data import load_dataset
from ..errors import DataNotFoundError, SnnlibError

NUM_CLASSES, IMAGE = 10, 32


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _malloc_trim():
    """Give freed heap memory back to the OS (glibc), so resident size tracks what is in use."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def peak_memory(device, out: dict, interval_s: float = 0.002):
    """Peak memory above the level at entry, in MB, written to ``out["peak_mb"]``.

    CUDA: the caching allocator's peak. CPU: peak resident set size, sampled every ``interval_s`` by a
    background thread after handing freed heap memory back to the OS (so it counts every allocation,
    PyTorch's and oneDNN's, and nothing a previous run left cached).
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield
        torch.cuda.synchronize(device)
        out["peak_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        return
    _malloc_trim()
    base = _rss_bytes()
    peak, stop = [base], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            stop.wait(interval_s)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()
        peak[0] = max(peak[0], _rss_bytes())
        out["peak_mb"] = (peak[0] - base) / 2**20


def input_batch(n, quick, seed):
    """``n`` CIFAR-10 test images (uint8) and labels if the data are there (full runs), else seeded noise."""
    if not quick:
        try:
            ds = load_dataset("cifar10", train=False)
            idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
            return ds.images[idx].clone(), ds.targets[idx].clone(), "CIFAR-10 test images"
        except (DataNotFoundError, SnnlibError):
            pass
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, IMAGE, IMAGE), generator=g, dtype=torch.uint8),
            torch.randint(0, NUM_CLASSES, (n,), generator=g), "uniform random pixels")
