"""``python -m snnlib gpu-check`` (``make gpu-check``): everything a lent GPU should measure, as one script.

In at most about 10 minutes on an H100/H200 it writes, under ``results/gpu/``:

1. ``environment.json``: the GPU, torch and SpikingJelly versions, and which IF-neuron implementation
   SpikingJelly 2.x actually dispatches to on this device (its native CUDA kernel or Triton);
2. ``bench.json``: ``python -m snnlib bench --device cuda`` with the bf16 and torch.compile extras, and the
   roofline fraction of every row;
3. ``medium-<config>.json``: one medium-profile model trained on the GPU, with its per-epoch time (the
   number of epochs is cut when the first one shows the whole run would not fit the budget);
4. ``paper-<config>.json``: one paper row (SEW-ResNet-18, full width) for a few epochs, with per-epoch time.

``--dry-run`` runs the same steps on the CPU at tiny sizes (what the tests check).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .. import config, places, results, train
from ..errors import SnnlibError


def implementation(device: str) -> dict:
    """Which IF implementation SpikingJelly selects on ``device`` (and whether Triton is importable)."""
    info = {"device": device}
    try:
        from spikingjelly._ops.if_ import _selection

        info["spikingjelly_if"] = str(_selection.diagnostics(torch.device(device)))
    except Exception as e:  # diagnostics are version-specific: record why they are missing
        info["spikingjelly_if"] = f"unavailable ({type(e).__name__}: {e})"
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    return info


def _train_timed(cfg, device, out: Path, budget_s: float) -> dict:
    """Train ``cfg`` on ``device`` into its own output folder; cut the epochs if the first shows it would not fit."""
    t0 = time.time()
    first = train.train(config.replace(cfg, train={"epochs": 1}), device=device, force=True)
    per_epoch = first["history"][0]["time_s"]
    epochs = max(1, min(cfg.train.epochs, int(budget_s // max(per_epoch, 1e-9))))
    r = first if epochs == 1 else train.train(config.replace(cfg, train={"epochs": epochs}), device=device, force=True)
    summary = {
        "config": cfg.name,
        "device": device,
        "epochs_run": epochs,
        "epochs_planned": cfg.train.epochs,
        "seconds_per_epoch": [h["time_s"] for h in r["history"]],
        "final": r["final"],
        "wall_time_s": time.time() - t0,
        "env": results.environment(device, cfg.seed),
    }
    results.write_json(out, summary)
    return summary


def run(
    device: str = "cuda",
    dry_run: bool = False,
    out: str | None = None,
    medium: str = "sew18_max",
    paper: str = "sew18_max_cifar10",
    budget_s: float = 540,
) -> dict:
    """The whole GPU check; returns a summary (each part is also written to its own JSON file)."""
    from .run import run as bench_run

    if dry_run:
        device = "cpu"
    elif not torch.cuda.is_available():
        raise SnnlibError("gpu-check needs a CUDA device (torch sees none); use --dry-run to test it on the CPU")
    folder = Path(out) if out else places.output_root() / "results" / ("gpu-dry-run" if dry_run else "gpu")
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results.write_json(folder / "environment.json", {**implementation(device), "env": results.environment(device)})
    bench = bench_run(
        form="quick" if dry_run else None,
        device=device,
        out=str(folder / "bench.json"),
        extras=() if dry_run else ("bf16", "compile"),
    )
    tiny = (
        {
            "model": {"width": 2},
            "data": {"n_per_class": 6, "test_per_class": 2, "eval_per_class": 1},
            "train": {"epochs": 1, "threads": 1},
        }
        if dry_run
        else {"train": {"threads": None}}
    )
    med = config.load_config(config.config_path(medium, "medium"))
    med = config.replace(med, profile="custom", **{**tiny, "data": {**tiny.get("data", {}), "pixels": "lossless"}})
    pap = config.replace(config.load_config(config.config_path(paper, "paper")), profile="custom", **tiny)
    if not dry_run:
        pap = config.replace(pap, train={"epochs": 3})

    def left() -> float:
        return max(60.0, budget_s - (time.time() - t0))

    m = _train_timed(med, device, folder / f"medium-{medium}.json", left() * 0.45)
    p = _train_timed(pap, device, folder / f"paper-{paper}.json", left())
    return {
        "command": "gpu-check",
        "device": device,
        "dry_run": dry_run,
        "result_file": str(folder),
        "final": {
            "bench": bench["final"],
            "medium_seconds_per_epoch": m["seconds_per_epoch"],
            "paper_seconds_per_epoch": p["seconds_per_epoch"],
        },
        "wall_time_s": time.time() - t0,
    }
