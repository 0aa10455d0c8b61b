"""Running a model over a dataset: clean predictions, and clean / FGSM / PGD accuracy with per-image
outcomes (paper Section 4.2, Tables 1-3, Fig. 2).

Model-level only: these functions take a classifier and an :class:`~snnlib.data.ImageSet` (or a batch)
and return tensors or dicts. The cached, config-level runs are in :mod:`snnlib.experiments`.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .attacks import FGSM, PAPER_EPS, PGD, FastThreatModel, batch_indices
from .data import ImageSet, batches, n_batches


@torch.no_grad()
def predict(
    model: torch.nn.Module, ds: ImageSet, batch_size: int = 128, device="cpu", desc=None
) -> tuple[torch.Tensor, float]:
    """Logits for a whole dataset (eval mode) and the mean cross-entropy loss."""
    was = model.training
    model.eval()
    out, loss = [], 0.0
    try:
        for x, y in tqdm(
            batches(ds, batch_size), total=n_batches(ds, batch_size), desc=desc, disable=None, leave=False
        ):
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


def evaluate_model(
    model,
    ds,
    eps: float = PAPER_EPS,
    alpha: float = 0.01,
    steps: int = 7,
    space: str = "pixel",
    bn: str = "eval",
    eps_sweep=None,
    batch_size: int = 64,
    device="cpu",
    seed: int = 3407,
    random_start: bool = True,
    batch_order: str = "dataset",
    order_seed: int | None = None,
    start_seed: int | None = None,
) -> dict:
    """Clean, FGSM and PGD accuracy of ``model`` on ``ds`` (paper Section 4.2, Tables 1-3, Fig. 2).

    ``eps_sweep`` adds FGSM and PGD accuracy at every listed eps (Fig. 2). Returns ``clean_acc``, ``fgsm_acc``,
    ``pgd_acc``, ``sweep`` (``{eps, fgsm_acc, pgd_acc}`` each), ``n`` and the per-sample outcomes. Crafted with
    frozen parameters, predicted under ``inference_mode`` (:class:`~snnlib.attacks.FastThreatModel`, the bench's path).

    ``batch_order`` says which images share a crafting batch (:func:`~snnlib.attacks.batch_indices`): under
    ``bn="train"`` the batch statistics depend on it, and ``shuffled`` (the authors' loader) makes the result
    independent of the dataset's order; ``order_seed`` (default: ``seed``) seeds that shuffle, ``start_seed``
    (default: ``seed``) PGD's random starts. Per-sample outcomes are always in the dataset's order.
    """
    model = model.to(device).eval()
    threat = FastThreatModel(model, space, bn)
    epsilons = sorted({float(eps), *[float(e) for e in (eps_sweep or [])]})
    gen = torch.Generator().manual_seed(int(seed if start_seed is None else start_seed))
    correct = {"clean": []}
    for e in epsilons:
        correct[f"fgsm@{e}"], correct[f"pgd@{e}"] = [], []
    t0 = time.time()
    index = batch_indices(ds.images, ds.targets, batch_size, batch_order, seed if order_seed is None else order_seed)
    for idx in tqdm(index, desc="attacks", disable=None, leave=False):
        x, y = ds.batch(idx)
        x, y = x.to(device), y.to(device)
        correct["clean"].append(threat.predict(threat.inputs(x)) == y)
        for e in epsilons:
            correct[f"fgsm@{e}"].append(threat.predict(FGSM(threat, e)(x, y)) == y)
            pgd = PGD(threat, e, alpha, steps, random_start=random_start, generator=gen)
            correct[f"pgd@{e}"].append(threat.predict(pgd(x, y)) == y)
    order = torch.cat(index)
    per = {}
    for k, v in correct.items():  # back to the dataset's order
        per[k] = torch.empty(len(order), dtype=torch.bool)
        per[k][order] = torch.cat(v).cpu()
    acc = {k: v.float().mean().item() for k, v in per.items()}
    return {
        "clean_acc": acc["clean"],
        "fgsm_acc": acc[f"fgsm@{float(eps)}"],
        "pgd_acc": acc[f"pgd@{float(eps)}"],
        "sweep": [{"eps": e, "fgsm_acc": acc[f"fgsm@{e}"], "pgd_acc": acc[f"pgd@{e}"]} for e in epsilons],
        "n": len(ds),
        "attack_time_s": time.time() - t0,
        "per_sample": {k: v.int().tolist() for k, v in per.items()},
    }
