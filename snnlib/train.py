"""Training loop, checkpoints and resume (paper Section 4.1).

The recipe is the paper's: Adam (lr 1e-3, betas 0.9/0.999), cross-entropy on
the T-averaged output, batch 16, random horizontal flips, seed 3407, and
weight decay 1e-3 as in the authors' code (the text does not mention it).

Unlike the authors' code, which keeps the checkpoint with the lowest *test*
loss, the checkpoint is selected on a validation split carved (seeded) from
the training set; test accuracy is reported at the selected and at the last
epoch.

Each epoch is a pure function of (seed, epoch, weights, optimiser state): the
shuffle and the flips are drawn from generators seeded by (seed, epoch). So a
run resumed from its ``latest`` checkpoint reaches bit-identical weights and
metrics on CPU.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import config as _config
from . import results
from .data import ImageSet, load_dataset, random_flip, split_train_val, stratified_indices
from .encoding import build_encoder
from .errors import CheckpointError, SnnlibError
from .fast import accelerate
from .models import SpikingClassifier, build_model

log = logging.getLogger("snnlib")
log.setLevel(logging.INFO)  # per-epoch lines reach a run's train.log; shown on screen only if logging is configured
CHECKPOINT_FORMAT = "snnlib-checkpoint/1"


# ----------------------------------------------------------------- building


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_classifier(cfg: _config.Config, num_classes: int, in_channels: int = 3) -> SpikingClassifier:
    """The model of a config: SpikingJelly ResNet + encoder, weights seeded by ``cfg.seed``.

    With ``train.fast`` (the default), :func:`snnlib.fast.accelerate` swaps in detached-reset IF
    neurons fused over all T steps (SpikingJelly's spikes and gradients, bit for bit) and
    convolutions whose weight gradients on tiny maps are GEMMs (equal up to float rounding; forwards
    and the input-only gradients of attacks stay bit-identical). The state_dict is unchanged.
    """
    seed_everything(cfg.seed)
    m = cfg.model
    net = build_model(m.arch, num_classes, pool=m.pool, in_channels=in_channels, width=m.width,
                      detach_reset=m.detach_reset, neuron=m.neuron)
    if cfg.train.fast:
        accelerate(net, neurons=True, gemm_wgrad=True)
    return SpikingClassifier(net, build_encoder(m.encoder, T=m.T, K=m.K, weighted=m.weighted))


def load_data(cfg: _config.Config, split: str) -> ImageSet:
    """``split`` is ``train`` or ``val`` (both carved from the training set) or ``test`` or ``eval``."""
    d = cfg.data
    if split in ("train", "val"):
        full = load_dataset(d.dataset, train=True, n_per_class=d.n_per_class, seed=cfg.seed)
        tr, va = split_train_val(full, d.val_fraction, cfg.seed)
        return tr if split == "train" else va
    test = load_dataset(d.dataset, train=False)
    n = d.test_per_class if split == "test" else d.eval_per_class
    return test.subset(stratified_indices(test.targets, n, cfg.seed)) if n else test


def in_channels_of(ds: ImageSet) -> int:
    return int(ds.images.shape[-3])


# --------------------------------------------------------------- evaluation


@torch.no_grad()
def predict(model: torch.nn.Module, ds: ImageSet, batch_size: int = 128, device="cpu", desc=None) -> tuple[torch.Tensor, float]:
    """Logits for a whole dataset (eval mode) and the mean cross-entropy loss."""
    was = model.training
    model.eval()
    out, loss = [], 0.0
    try:
        for i in tqdm(range(0, len(ds), batch_size), desc=desc, disable=None, leave=False):
            x, y = ds.batch(torch.arange(i, min(i + batch_size, len(ds))))
            logits = model(x.to(device)).float().cpu()
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            out.append(logits)
    finally:
        model.train(was)
    return torch.cat(out), loss / max(len(ds), 1)


def accuracy(model, ds: ImageSet, batch_size: int = 128, device="cpu") -> tuple[float, float]:
    """(accuracy, mean loss) on ``ds`` in eval mode."""
    logits, loss = predict(model, ds, batch_size, device)
    return (logits.argmax(1) == ds.targets).float().mean().item(), loss


# -------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (train the config first: python -m snnlib train CONFIG)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"checkpoint {path} could not be read; it is truncated, corrupted or not a torch file "
            f"({type(e).__name__}). Delete it and train again, or resume from the other checkpoint."
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an snnlib checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    return state


def checkpoint_paths(cfg: _config.Config) -> dict[str, Path]:
    d = _config.runs_dir() / (cfg.profile if cfg.profile in _config.PROFILES else "custom") / cfg.run_id
    return {"latest": d / "latest.pt", "best": d / "best.pt", "dir": d}


def load_trained(cfg: _config.Config, which: str = "best", device="cpu", checkpoint: Path | None = None) -> SpikingClassifier:
    """The trained classifier of a config (its ``best`` or ``latest`` checkpoint, or a given file)."""
    path = Path(checkpoint) if checkpoint else checkpoint_paths(cfg)[which]
    state = load_checkpoint(path, map_location=device)
    if checkpoint is None and state.get("train_key") != cfg.train_key():
        raise CheckpointError(f"{path} was trained with another config (train_key differs); train again with --force")
    model = build_classifier(cfg, state["num_classes"], state["in_channels"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit config {cfg.name!r}: {str(e).splitlines()[0]}") from None
    return model.to(device).eval()


# ------------------------------------------------------------------ training


def _epoch(model, opt, ds, cfg, epoch, device, scaler_ctx):
    g_shuffle = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    g_flip = torch.Generator().manual_seed(cfg.seed * 1000 + epoch + 500)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=cfg.train.batch_size, shuffle=True, generator=g_shuffle, collate_fn=lambda b: b,
        num_workers=cfg.train.workers, pin_memory=cfg.train.pin_memory and str(device).startswith("cuda"))
    model.train()
    tot_loss, correct, n = 0.0, 0, 0
    bar = tqdm(loader, desc=f"epoch {epoch}", disable=None, leave=False)
    for x, y in bar:
        if cfg.train.flip:
            x = random_flip(x, g_flip)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with scaler_ctx():
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tot_loss += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
        bar.set_postfix(loss=f"{tot_loss / n:.3f}", acc=f"{correct / n:.3f}")
    return tot_loss / n, correct / n


def _autocast(cfg, device):
    if cfg.train.amp and str(device).startswith("cuda"):
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    import contextlib

    return contextlib.nullcontext


def _better(cfg, m, best):
    if best is None:
        return True
    key = cfg.train.select
    return m[key] > best[key] if key == "val_acc" else m[key] < best[key]


def train(cfg: _config.Config, device: str = "cpu", resume: bool = False, force: bool = False,
          stop_after: int | None = None) -> dict:
    """Train a config; return its result dict (also written to ``results/<profile>/<run_id>/train.json``).

    A config whose finished result exists is not trained again unless ``force``.
    ``resume`` continues from the ``latest`` checkpoint. ``stop_after`` ends the
    run after that many epochs (used to test resume).
    """
    out = results.run_dir(cfg) / "train.json"
    if out.exists() and not force:
        prev = results.read_json(out)
        if prev.get("train_key") == cfg.train_key() and prev.get("complete"):
            log.info("%s: finished result exists (%s); skipping (use --force to retrain)", cfg.name, out)
            return prev
    _check_device(device)
    paths = checkpoint_paths(cfg)
    paths["dir"].mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(paths["dir"] / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if str(device) == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        return _train(cfg, device, resume, force, stop_after, paths, out)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        log.removeHandler(handler)
        handler.close()


def _train(cfg, device, resume, force, stop_after, paths, out):
    train_ds, val_ds = load_data(cfg, "train"), load_data(cfg, "val")
    model = build_classifier(cfg, train_ds.num_classes, in_channels_of(train_ds)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas),
                           weight_decay=cfg.train.weight_decay)
    history, best, start, elapsed = [], None, 1, 0.0
    if resume and paths["latest"].exists():
        state = load_checkpoint(paths["latest"], map_location=device)
        if state.get("train_key") != cfg.train_key():
            raise CheckpointError(f"{paths['latest']} belongs to another config; use --force to start over")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history, best, start, elapsed = state["history"], state["best"], state["epoch"] + 1, state["elapsed"]
        log.info("%s: resuming after epoch %d", cfg.name, state["epoch"])
    elif force or not resume:
        for p in (paths["latest"], paths["best"]):
            p.unlink(missing_ok=True)
    common = {"train_key": cfg.train_key(), "config": cfg.to_dict(), "num_classes": train_ds.num_classes,
              "in_channels": in_channels_of(train_ds)}
    ctx = _autocast(cfg, device)
    for epoch in range(start, cfg.train.epochs + 1):
        te = time.time()
        tr_loss, tr_acc = _epoch(model, opt, train_ds, cfg, epoch, device, ctx)
        va_acc, va_loss = accuracy(model, val_ds, cfg.train.eval_batch_size, device) if len(val_ds) else (float("nan"),) * 2
        m = {"epoch": epoch, "train_loss": tr_loss, "train_acc": tr_acc, "val_loss": va_loss, "val_acc": va_acc,
             "time_s": time.time() - te}
        history.append(m)
        elapsed += m["time_s"]
        log.info("%s epoch %d: loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1fs", cfg.name, epoch, tr_loss,
                 tr_acc, va_loss, va_acc, m["time_s"])
        if _better(cfg, m, best):
            best = m
            save_checkpoint(paths["best"], {**common, "epoch": epoch, "model": model.state_dict()})
        save_checkpoint(paths["latest"], {**common, "epoch": epoch, "model": model.state_dict(),
                                          "optimizer": opt.state_dict(), "history": history, "best": best,
                                          "elapsed": elapsed})
        if stop_after is not None and epoch - start + 1 >= stop_after and epoch < cfg.train.epochs:
            return {"complete": False, "epoch": epoch, "history": history}
    return _finish(cfg, model, device, history, best, elapsed, train_ds, val_ds, out)


def _finish(cfg, model, device, history, best, elapsed, train_ds, val_ds, out):
    t0 = time.time()
    test_ds = load_data(cfg, "test")
    last_acc, last_loss = accuracy(model, test_ds, cfg.train.eval_batch_size, device)
    best_model = load_trained(cfg, "best", device)
    best_acc, best_loss = accuracy(best_model, test_ds, cfg.train.eval_batch_size, device)
    final = {"best_epoch": best["epoch"], "val_acc_best": best["val_acc"], "test_acc_best": best_acc,
             "test_loss_best": best_loss, "test_acc_last": last_acc, "test_loss_last": last_loss,
             "epochs": len(history), "train_time_s": elapsed}
    res = {"kind": "train", "complete": True, "run_id": cfg.run_id, "train_key": cfg.train_key(),
           "config": cfg.to_dict(), "env": results.environment(device, cfg.seed), "history": history,
           "final": final, "wall_time_s": elapsed + time.time() - t0,
           "data": {"source": train_ds.source, "n_train": len(train_ds), "n_val": len(val_ds), "n_test": len(test_ds)},
           "checkpoints": {k: str(v) for k, v in checkpoint_paths(cfg).items() if k != "dir"}}
    results.write_json(out, res)
    res["result_file"] = str(out)
    return res


def _check_device(device) -> None:
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SnnlibError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
    if not (str(device) == "cpu" or str(device).startswith("cuda")):
        raise SnnlibError(f"unknown device {device!r}; expected cpu or cuda[:N]")


def ensure_trained(cfg: _config.Config, device: str | None = None) -> dict:
    """The finished training result of ``cfg``: loaded if present, else trained now (resuming if it can)."""
    device = device or _config.device()
    return train(cfg, device=device, resume=checkpoint_paths(cfg)["latest"].exists())
