"""The training loop, plain and adversarial, with resume (paper Section 4.1).

The recipe is the paper's: Adam (lr 1e-3, betas 0.9/0.999), cross-entropy on the T-averaged
output, batch 16, random horizontal flips, seed 3407, and weight decay 1e-3 as in the authors'
code (the text does not mention it).

Unlike the authors' code, which keeps the checkpoint with the lowest *test* loss, the checkpoint
is selected on a validation split carved (seeded) from the training set; test accuracy is
reported at the selected and at the last epoch.

Each epoch is a pure function of (seed, epoch, weights, optimiser state): the shuffle and the
flips are drawn from generators seeded by (seed, epoch). So a run resumed from its ``latest``
checkpoint reaches bit-identical weights and metrics on CPU.

``train.adversarial`` trains a defended baseline (Madry et al. 2018): each batch is replaced by
adversarial examples crafted against the current weights, FGSM with a random start (Wong et al.
2020) or PGD, in pixel space with BN using the batch's statistics while crafting.
"""

from __future__ import annotations

import contextlib
import logging
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import parking, results
from .attacks import FGSM, PGD, FastThreatModel, encoder_grad, random_start
from .build import build_classifier, check_data, in_channels_of, load_data
from .checkpoints import checkpoint_paths, load_checkpoint, load_trained, save_checkpoint
from .config import Config, device as default_device
from .data import random_flip
from .errors import CheckpointError, SnnlibError
from .evaluation import accuracy
from .kernels import flush_denormals

log = logging.getLogger("snnlib")
log.setLevel(logging.INFO)  # per-epoch lines reach a run's train.log; shown on screen only if logging is configured


def train_step(model, optimizer, x, y, autocast=None, adversary=None) -> dict:
    """One optimiser step on a batch (``adversary(x, y)``, if given, replaces the batch first)."""
    if adversary is not None:
        x = adversary(x, y)
    model.train()
    with autocast() if autocast else contextlib.nullcontext():
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"logits": logits.detach().float(), "loss": loss.detach()}


def adversary(cfg: Config, model, generator: torch.Generator):
    """The batch transform of adversarial training (``train.adversarial``), or None."""
    a = cfg.train.adversarial
    if a.method == "none":
        return None
    threat = FastThreatModel(model, "pixel", "train")  # batch statistics while crafting (restored); no weight grads
    if a.method == "pgd":
        pgd = PGD(threat, a.eps, pgd_alpha(a), a.steps, generator=generator)
        if a.encoder_grad == "ste":
            return pgd

        def pgd_through(x, y):  # crafted through the chosen encoder backward (the audit's strongest: flip)
            with encoder_grad(model, a.encoder_grad):
                return pgd(x, y)

        return pgd_through

    def fgsm_rs(x, y):  # Wong et al. 2020: FGSM from a uniform random start, step 1.25 eps, projected
        start = random_start(x, a.eps, generator)
        step = FGSM(threat, a.alpha if a.alpha is not None else 1.25 * a.eps)(start, y)
        return torch.clamp(x + torch.clamp(step - x, -a.eps, a.eps), 0, 1)

    return fgsm_rs


def pgd_alpha(a) -> float:
    """The PGD step of adversarial training: ``alpha``, else 2.5 eps / steps (Madry et al. 2018)."""
    return a.alpha if a.alpha is not None else 2.5 * a.eps / a.steps


ROBUST_VAL_STEPS = 10


def robust_val_accuracy(model, val_ds, cfg: Config, device) -> float:
    """PGD-10 accuracy on the first ``train.robust_val`` validation images (pixel space, BN eval, the adversarial
    eps, step 2.5 eps / 10, a fixed random start, crafted through ``adversarial.encoder_grad``): the early-stopping
    signal of adversarial training (Rice et al. 2020)."""
    a, n = cfg.train.adversarial, cfg.train.robust_val
    ds = val_ds.subset(torch.arange(n))
    threat = FastThreatModel(model.eval(), "pixel", "eval")
    pgd = PGD(
        threat,
        a.eps,
        2.5 * a.eps / ROBUST_VAL_STEPS,
        ROBUST_VAL_STEPS,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    grad = (
        a.encoder_grad if getattr(model, "encoder", None) is not None and hasattr(model.encoder, "flip_width") else None
    )
    correct = 0
    with encoder_grad(model, grad) if grad else contextlib.nullcontext():
        for i in range(0, n, cfg.train.eval_batch_size):
            x, y = ds.batch(torch.arange(i, min(i + cfg.train.eval_batch_size, n)))
            x, y = x.to(device), y.to(device)
            correct += (threat.predict(pgd(x, y)) == y).sum().item()
    return correct / n


def _epoch(model, opt, ds, cfg, epoch, device, autocast):
    g_shuffle = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    g_flip = torch.Generator().manual_seed(cfg.seed * 1000 + epoch + 500)
    adv = adversary(cfg, model, torch.Generator().manual_seed(cfg.seed * 1000 + epoch + 700))
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=cfg.train.batch_size,
        shuffle=True,
        generator=g_shuffle,
        collate_fn=lambda b: b,
        num_workers=cfg.train.workers,
        pin_memory=cfg.train.pin_memory and str(device).startswith("cuda"),
    )
    tot_loss, correct, n = 0.0, 0, 0
    bar = tqdm(loader, desc=f"epoch {epoch}", disable=None, leave=False)
    for x, y in bar:
        if cfg.train.flip:
            x = random_flip(x, g_flip)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        out = train_step(model, opt, x, y, autocast, adv)
        tot_loss += out["loss"].item() * len(y)
        correct += (out["logits"].argmax(1) == y).sum().item()
        n += len(y)
        bar.set_postfix(loss=f"{tot_loss / n:.3f}", acc=f"{correct / n:.3f}")
    return tot_loss / n, correct / n


def _autocast(cfg, device):
    if cfg.train.amp and str(device).startswith("cuda"):
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return None


def _better(cfg, m, best) -> bool:
    """Whether epoch metrics ``m`` beat ``best`` on ``train.select``: an accuracy (``val_acc``,
    ``robust_val_acc``) is maximised, ``val_loss`` minimised; a tie keeps the earlier epoch."""
    if best is None:
        return True
    key = cfg.train.select
    return m[key] > best[key] if key.endswith("acc") else m[key] < best[key]


def train(
    cfg: Config, device: str = "cpu", resume: bool = False, force: bool = False, stop_after: int | None = None
) -> dict:
    """Train a config; return its result dict (also written to ``results/<profile>/<run_id>/train.json``).

    A config whose finished result exists is not trained again unless ``force``. ``resume``
    continues from the ``latest`` checkpoint. ``stop_after`` ends the run after that many epochs
    (used to test resume); such a partial result (``complete: False``) is never taken as finished.
    """

    def finished(prev):
        return prev.get("train_key") == cfg.train_key() and prev.get("complete")

    return results.cached(
        results.run_dir(cfg) / "train.json", lambda: _logged(cfg, device, resume, force, stop_after), force, finished
    )


def _logged(cfg, device, resume, force, stop_after):
    check_device(device)
    check_data(cfg)
    paths = checkpoint_paths(cfg)
    paths["dir"].mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(paths["dir"] / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    was_deterministic, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    if str(device) == "cpu":
        torch.use_deterministic_algorithms(True)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    try:
        with flush_denormals(cfg.train.flush_denormals):
            return _train(cfg, device, resume, force, stop_after, paths)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(was_threads)
        log.removeHandler(handler)
        handler.close()


def _start(cfg, model, opt, paths, device, resume, force):
    """(history, best, first epoch, elapsed) of a fresh run, or of the ``latest`` checkpoint when resuming
    (a parked checkpoint, :mod:`snnlib.parking`, newer than the run's own is restored first)."""
    if resume and parking.unpark(cfg):
        log.info("%s: restored the parked checkpoint", cfg.name)
    if resume and paths["latest"].exists():
        state = load_checkpoint(paths["latest"], map_location=device)
        if state.get("train_key") != cfg.train_key():
            raise CheckpointError(f"{paths['latest']} belongs to another config; use --force to start over")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        log.info("%s: resuming after epoch %d", cfg.name, state["epoch"])
        return state["history"], state["best"], state["epoch"] + 1, state["elapsed"]
    if force or not resume:
        for p in (paths["latest"], paths["best"]):
            p.unlink(missing_ok=True)
    return [], None, 1, 0.0


def _train(cfg, device, resume, force, stop_after, paths):
    train_ds, val_ds = load_data(cfg, "train"), load_data(cfg, "val")
    model = build_classifier(cfg, train_ds.num_classes, in_channels_of(train_ds)).to(device)
    opt = torch.optim.Adam(
        model.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas), weight_decay=cfg.train.weight_decay
    )
    if cfg.train.robust_val > len(val_ds):
        raise SnnlibError(
            f"config {cfg.name!r}: train.robust_val={cfg.train.robust_val}, but the validation split "
            f"has only {len(val_ds)} images; lower train.robust_val or raise data.val_fraction"
        )
    history, best, start, elapsed = _start(cfg, model, opt, paths, device, resume, force)
    common = {
        "train_key": cfg.train_key(),
        "config": cfg.to_dict(),
        "num_classes": train_ds.num_classes,
        "in_channels": in_channels_of(train_ds),
    }
    autocast = _autocast(cfg, device)
    for epoch in range(start, cfg.train.epochs + 1):
        te = time.time()
        tr_loss, tr_acc = _epoch(model, opt, train_ds, cfg, epoch, device, autocast)
        va_acc, va_loss = (
            accuracy(model, val_ds, cfg.train.eval_batch_size, device) if len(val_ds) else (float("nan"),) * 2
        )
        m = {"epoch": epoch, "train_loss": tr_loss, "train_acc": tr_acc, "val_loss": va_loss, "val_acc": va_acc}
        if cfg.train.robust_val:
            m["robust_val_acc"] = robust_val_accuracy(model, val_ds, cfg, device)
        m["time_s"] = time.time() - te
        history.append(m)
        elapsed += m["time_s"]
        log.info(
            "%s epoch %d: loss %.4f acc %.4f | val loss %.4f acc %.4f | robust val %s | %.1fs",
            cfg.name,
            epoch,
            tr_loss,
            tr_acc,
            va_loss,
            va_acc,
            m.get("robust_val_acc", "-"),
            m["time_s"],
        )
        if _better(cfg, m, best):
            best = m
            save_checkpoint(paths["best"], {**common, "epoch": epoch, "model": model.state_dict()})
        save_checkpoint(
            paths["latest"],
            {
                **common,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "history": history,
                "best": best,
                "elapsed": elapsed,
            },
        )
        if stop_after is not None and epoch - start + 1 >= stop_after and epoch < cfg.train.epochs:
            return {"complete": False, "epoch": epoch, "history": history}
    return _finish(cfg, model, device, history, best, elapsed, train_ds, val_ds)


def _finish(cfg, model, device, history, best, elapsed, train_ds, val_ds):
    t0 = time.time()
    test_ds = load_data(cfg, "test")
    last_acc, last_loss = accuracy(model, test_ds, cfg.train.eval_batch_size, device)
    best_model = load_trained(cfg, "best", device)
    best_acc, best_loss = accuracy(best_model, test_ds, cfg.train.eval_batch_size, device)
    final = {
        "best_epoch": best["epoch"],
        "val_acc_best": best["val_acc"],
        "test_acc_best": best_acc,
        "robust_val_acc_best": best.get("robust_val_acc"),
        "select": cfg.train.select,
        "test_loss_best": best_loss,
        "test_acc_last": last_acc,
        "test_loss_last": last_loss,
        "epochs": len(history),
        "train_time_s": elapsed,
    }
    return {
        "kind": "train",
        "complete": True,
        "run_id": cfg.run_id,
        "train_key": cfg.train_key(),
        "config": cfg.to_dict(),
        "env": results.environment(device, cfg.seed),
        "history": history,
        "final": final,
        "wall_time_s": elapsed + time.time() - t0,
        "data": {**train_ds.provenance(), "n_train": len(train_ds), "n_val": len(val_ds), "n_test": len(test_ds)},
        "checkpoints": {k: str(v) for k, v in checkpoint_paths(cfg).items() if k != "dir"},
    }


def check_device(device) -> None:
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SnnlibError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
    if not (str(device) == "cpu" or str(device).startswith("cuda")):
        raise SnnlibError(f"unknown device {device!r}; expected cpu or cuda[:N]")


def ensure_trained(cfg: Config, device: str | None = None) -> dict:
    """The finished training result of ``cfg``: loaded if present, else trained now (resuming if it can)."""
    device = device or default_device()
    return train(cfg, device=device, resume=checkpoint_paths(cfg)["latest"].exists() or parking.parked(cfg))
