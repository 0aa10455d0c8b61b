"""Measuring: device sync, peak memory (CUDA allocator or sampled resident size), the input batch, the spread of
repeated timings, and whether the machine was quiet."""

from __future__ import annotations

import contextlib
import os
import statistics
import threading

import torch

from ..data import load_dataset
from ..errors import DataNotFoundError, SnnlibError

NUM_CLASSES, IMAGE = 10, 32
#: the machine counts as quiet when the other jobs' load average stays below this per core the bench leaves free
#: and the timed runs got at least this share of a core (CPU time over wall time)
QUIET_LOAD_PER_FREE_CORE, QUIET_CPU_OVER_WALL = 0.5, 0.9


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
    return (
        torch.randint(0, 256, (n, 3, IMAGE, IMAGE), generator=g, dtype=torch.uint8),
        torch.randint(0, NUM_CLASSES, (n,), generator=g),
        "uniform random pixels",
    )


def timing(row, name, ts, base, b):
    """Per-image minimum, median and maximum of one clock, and the speed-up over ``base`` with its spread."""
    paired = [a / t for a, t in zip(base, ts, strict=True)]  # the variants of one repetition ran side by side
    row.update(
        {
            f"{name}_ms_per_image": 1e3 * statistics.median(ts) / b,
            f"{name}_ms_per_image_min": 1e3 * min(ts) / b,
            f"{name}_ms_per_image_max": 1e3 * max(ts) / b,
            f"{name}_speedup": statistics.median(base) / statistics.median(ts),
            f"{name}_speedup_paired": statistics.median(paired),
            f"{name}_speedup_min": min(paired),
            f"{name}_speedup_max": max(paired),
        }
    )


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def quiet_check(load_start, load_end, threads, times) -> dict:
    """Whether the machine was quiet: other jobs' load average, and the CPU share the timed runs got."""
    cpu = sum(sum(t["cpu"]) for t in times.values())
    wall = sum(sum(t["wall"]) for t in times.values())
    free = max((os.cpu_count() or 1) - threads, 1)
    limit, reasons = QUIET_LOAD_PER_FREE_CORE * free, []
    for when, load, own in (("start", load_start, 0), ("end", load_end, threads)):
        if load is not None and load - own > limit:
            reasons.append(
                f"load average of other jobs at the {when} about {load - own:.2f} "
                f"(> {limit:.2f}: {QUIET_LOAD_PER_FREE_CORE} per core the bench leaves free)"
            )
    if wall > 0 and cpu / wall < QUIET_CPU_OVER_WALL:
        reasons.append(
            f"the timed runs got {cpu / wall:.2f} s of CPU time per wall-clock second (< {QUIET_CPU_OVER_WALL})"
        )
    return {
        "quiet": not reasons,
        "reasons": reasons,
        "load_average_at_start": load_start,
        "load_average_at_end": load_end,
        "cpu_over_wall": cpu / wall if wall > 0 else None,
    }
