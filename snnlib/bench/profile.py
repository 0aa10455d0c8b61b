"""Where the time goes: ``torch.profiler`` over snnlib's training step and evaluation, and the medium-profile
training throughput (images per second at the medium width, batch 16)."""

from __future__ import annotations

import time

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile

from .. import config
from ..build import build_classifier
from ..train import train_step
from .variants import Bench, snnlib_variant


def breakdown(bench: Bench, kind: str, pixels, y, top: int = 12) -> list[dict]:
    """The ops that take the most self time in one run of snnlib's path (``train`` or ``eval``)."""
    v = snnlib_variant(bench.device.type, kind)
    bench.run(kind, v, pixels, y)  # warm
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if bench.device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        bench.run(kind, v, pixels, y)
    ev = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ev) or 1.0
    rows = sorted(ev, key=lambda e: -e.self_cpu_time_total)[:top]
    return [{"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1e3,
             "share": e.self_cpu_time_total / total} for e in rows]


def medium_throughput(steps: int = 20, threads: int | None = None) -> dict:
    """Training images per second of the medium profile's SEW-ResNet-18 (its width, batch 16, snnlib's path)."""
    try:
        cfg = config.load_config(config.config_path("sew18_max", "medium"))
    except Exception:  # a project without the medium profile: the library default width
        cfg = config.from_dict({"model": {"width": 16}})
    model = build_classifier(cfg, 10)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(cfg.train.batch_size, 3, 32, 32, generator=g), torch.randint(0, 10, (cfg.train.batch_size,), generator=g)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        for _ in range(3):
            train_step(model, opt, x, y)
        t, c = time.perf_counter(), time.process_time()
        for _ in range(steps):
            train_step(model, opt, x, y)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        torch.set_num_threads(before)
    n = steps * cfg.train.batch_size
    return {"width": cfg.model.width, "batch": cfg.train.batch_size, "threads": threads or before,
            "images_per_s_wall": n / wall, "images_per_s_cpu": n / cpu,
            "epoch_min_wall": 45000 / (n / wall) / 60}


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)
