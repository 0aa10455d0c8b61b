"""Where the time goes: ``torch.profiler`` over snnlib's training step and evaluation, the attack loop's own
overhead, and the medium profile's training epoch (its config on lossless data, one thread, as it trains)."""

from __future__ import annotations

import math
import statistics
import time

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile

from .. import config, kernels
from ..attacks import FastThreatModel
from ..build import build_classifier, load_data
from ..data import random_flip
from ..errors import SnnlibError
from ..train import train_step
from .variants import Bench, snnlib_variant

MEDIUM_TRAIN_IMAGES = 45_000  # the medium profile's training split (CIFAR-10's 50,000 less 10 % validation)


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
    return [
        {"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1e3, "share": e.self_cpu_time_total / total}
        for e in rows
    ]


def _cpu_time(fn, repeats):
    out = []
    for _ in range(repeats):
        c = time.process_time()
        fn()
        out.append(time.process_time() - c)
    return statistics.median(out)


def attack_loop_overhead(bench: Bench, pixels, y, repeats: int = 3) -> dict:
    """The evaluation's time (clean, FGSM, PGD, under the authors' threat model) less the network passes it makes.

    The passes are timed on their own as the threat model makes them: 3 predictions (clean, FGSM, PGD; BN in
    eval mode, no graph), 1 + steps input gradients (BN in train mode, parameters frozen) and 3 encodings.
    What remains is the attack loop's own work: copies, random start, sign steps, projections, BN buffer
    saves and restores. CPU seconds per batch, medians of ``repeats``.
    """
    v = snnlib_variant(bench.device.type, "eval")
    bench.run("eval", v, pixels, y)  # warm, and leaves the network configured as snnlib's path
    total = _cpu_time(lambda: bench.run("eval", v, pixels, y), repeats)
    bench.restore()
    clf, x = bench.clf, pixels.float() / 255
    threat = FastThreatModel(clf, "spike", "train")
    z = threat.inputs(x)
    encode = _cpu_time(lambda: threat.inputs(x), repeats)
    predict = _cpu_time(lambda: threat.eval_logits(z), repeats)

    def gradient():
        with threat.crafting():
            threat.grad(z, y)

    grad = _cpu_time(gradient, repeats)
    bench.restore()
    passes = 3 * predict + (1 + bench.steps) * grad
    return {
        "batch": len(y),
        "eval_s": total,
        "predict_s": predict,
        "input_gradient_s": grad,
        "encode_s": encode,
        "network_passes_s": passes,
        "encodings_s": 3 * encode,
        "loop_overhead_s": total - passes - 3 * encode,
        "loop_overhead_share": (total - passes - 3 * encode) / total,
    }


def _medium_config():
    try:
        return config.load_config(config.config_path("sew18_max", "medium"), ["data.pixels=lossless"])
    except (SnnlibError, OSError):  # a project without the medium profile: the library default width
        return config.from_dict({"model": {"width": 16}})


def _medium_batches(cfg, n_batches, seed=0):
    """Training batches of the medium config (lossless CIFAR-10, shuffled, flipped), or seeded noise without data;
    and the training split's size."""
    g, b = torch.Generator().manual_seed(seed), cfg.train.batch_size
    try:
        ds = load_data(cfg, "train")
    except (SnnlibError, OSError):
        ds = None
    if ds is None:
        n = MEDIUM_TRAIN_IMAGES
        batches = [
            (torch.rand(b, 3, 32, 32, generator=g), torch.randint(0, 10, (b,), generator=g)) for _ in range(n_batches)
        ]
    else:
        n, idx = len(ds), torch.randperm(len(ds), generator=g)
        batches = [ds.batch(idx[(i * b) % (n - b) : (i * b) % (n - b) + b]) for i in range(n_batches)]
    return [(random_flip(x, g), y) for x, y in batches], n


def medium_throughput(steps: int = 200, threads: int | None = 1, variants: dict | None = None, chunk: int = 20) -> dict:
    """One medium-profile training epoch, from ``steps`` timed training steps (its config with lossless data, batch
    16, one thread and deterministic algorithms, as ``python -m snnlib train`` runs it).

    ``variants``: name -> keyword arguments of :func:`snnlib.kernels.accelerate` (default: the config's own
    model, ``{"path": None}``); they run interleaved in chunks of ``chunk`` steps on the same batches. The epoch
    is the median step's CPU time (wall time with several threads) times the steps of an epoch.
    """
    cfg = _medium_config()
    variants = variants or {"path": None}
    batches, n_images = _medium_batches(cfg, steps + 3)
    before, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        runs = {k: _medium_model(cfg, kw) for k, kw in variants.items()}
        for m, opt in runs.values():
            for x, y in batches[:3]:
                train_step(m, opt, x, y)
        times = {k: {"cpu": [], "wall": []} for k in runs}
        for lo in range(3, steps + 3, chunk):
            for k in list(runs)[lo // chunk % len(runs) :] + list(runs)[: lo // chunk % len(runs)]:
                _timed_steps(*runs[k], batches[lo : lo + chunk], times[k])
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(det)
    n_steps = math.ceil(n_images / cfg.train.batch_size)
    out = {k: _epoch_summary(t, n_steps, cfg.train.batch_size, threads or before) for k, t in times.items()}
    head = out[next(iter(out))]
    return {
        "config": cfg.name,
        "pixels": cfg.data.pixels,
        "width": cfg.model.width,
        "batch": cfg.train.batch_size,
        "threads": threads or before,
        "steps": steps,
        "train_images": n_images,
        "epoch_steps": n_steps,
        **head,
        "variants": out,
    }


def _medium_model(cfg, accelerate_kw):
    model = build_classifier(cfg, 10)
    if accelerate_kw is not None:
        kernels.decelerate(model.net)
        kernels.accelerate(model.net, **accelerate_kw)
    return model, torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)


def _timed_steps(model, opt, batches, out):
    for x, y in batches:
        t, c = time.perf_counter(), time.process_time()
        train_step(model, opt, x, y)
        out["wall"].append(time.perf_counter() - t)
        out["cpu"].append(time.process_time() - c)


def _epoch_summary(t, n_steps, batch, threads):
    clock = "cpu" if threads == 1 else "wall"
    ts = t[clock]
    med = statistics.median(ts)
    return {
        "clock": clock,
        "step_s": med,
        "step_s_min": min(ts),
        "step_s_max": max(ts),
        "step_s_wall": statistics.median(t["wall"]),
        "images_per_s": batch / med,
        "epoch_s": med * n_steps,
        "epoch_min": med * n_steps / 60,
    }


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


#: the medium epoch's two paths: snnlib's training model as the config builds it, and SpikingJelly's own classes
#: (no fused neurons, no GEMM weight gradients), as the authors' pipeline trains
EPOCH_PATHS = {"snnlib": None, "spikingjelly": {"neurons": False}}


def medium_epoch_run(out, steps: int = 200) -> dict:
    """The medium epoch on its own (:func:`medium_throughput` of :data:`EPOCH_PATHS`, interleaved on the same
    batches, one thread) with the machine's load before and after and the quiet check; written to ``out``."""
    from .. import results
    from .measure import load_average, quiet_check

    start = load_average()
    t = medium_throughput(steps=steps, threads=1, variants=EPOCH_PATHS)
    own = {k: {"cpu": [v["step_s"]], "wall": [v["step_s_wall"]]} for k, v in t["variants"].items()}
    quiet = quiet_check(start, load_average(), 1, own)
    v = t["variants"]
    res = {
        "kind": "medium-epoch",
        **t,
        "speedup": v["spikingjelly"]["epoch_s"] / v["snnlib"]["epoch_s"],
        "quiet": quiet["quiet"],
        "quiet_check": quiet,
        "environment": results.environment("cpu"),
    }
    results.write_json(out, res)
    return res
