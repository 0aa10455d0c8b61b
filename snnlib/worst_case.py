"""A cascade of stronger attacks on the images a first attack left: the per-image worst case.

Each attack of the cascade works on what the earlier ones left; every prediction is made with BN in eval mode,
image by image, so a perturbation found by any attack (whatever batch it was crafted in) is a valid adversarial
example, and the images none of them breaks are the per-image worst case. By construction that worst case is
contained in the first attack's survivors (nested): the images broken beyond it are reported as a count with its
exact interval, never as a McNemar test.

Used in spike space for the authors' threat (:mod:`snnlib.spike_case`) and in pixel space for the standard threat on
both copies of the test images (:mod:`snnlib.pixels`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from . import stats
from .attacks import AUTHORS_EPS, PAPER_EPS, PGD, FastThreatModel, batch_indices, check_count, check_eps
from .attacks.gradient import acc_at, pgd_track
from .attacks.interop import run_torchattack
from .errors import SnnlibError
from .kernels import flush_denormals

#: (id, attack, BN mode while crafting): PGD with many steps and restarts, APGD-CE and APGD-DLR (Croce & Hein 2020)
STRONG_EVAL = (("pgd-restarts", "pgd", "eval"), ("apgd-ce", "apgd-ce", "eval"), ("apgd-dlr", "apgd-dlr", "eval"))
STRONG_TRAIN = tuple((i, a, "train") for i, a, _ in STRONG_EVAL)


@dataclass
class CascadeSettings:
    """The budgets of a worst-case cascade; :meth:`for_profile` follows the audit's budgets."""

    eps: list = field(default_factory=lambda: [AUTHORS_EPS, PAPER_EPS])  # the authors' code, the paper's text
    steps: int = 200
    restarts: int = 2
    alpha: float = 0.01  # the paper's PGD step, as the audit's ladder
    apgd_steps: int = 100
    n_eval: int = 500  # the audit's images
    batch_size: int = 100  # BN eval crafting (images do not interact)
    authors_batch_size: int = 16  # BN train crafting: the authors' shuffled test loader
    seed: int = 0

    @classmethod
    def for_profile(cls, profile_name: str | None = None) -> "CascadeSettings":
        """The audit's image count, PGD ladder (longest run, restarts), APGD steps and seed for a profile."""
        from .audit.settings import AuditSettings

        a = AuditSettings.for_profile(profile_name)
        return cls(
            steps=max(a.ladder_steps) if a.budget != "quick" else sorted(a.ladder_steps)[-2],  # quick: CI's time
            restarts=a.ladder_restarts,
            alpha=a.alpha,
            apgd_steps=a.apgd_steps,
            n_eval=a.n_eval,
            batch_size=a.batch_size,
            authors_batch_size=a.authors_batch_size,
            seed=a.seed,
        ).validated()

    def validated(self) -> "CascadeSettings":
        for name in ("steps", "restarts", "apgd_steps", "n_eval", "batch_size", "authors_batch_size"):
            check_count(getattr(self, name), f"worst-case setting {name}")
        if not self.eps:
            raise SnnlibError("worst-case setting eps must name at least one budget, e.g. [6/255, 8/255]")
        for e in (*self.eps, self.alpha):
            check_eps(e, "worst-case eps/alpha")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def _robust_pgd(threat, x, y, eps, alpha, steps, restarts, gen) -> torch.Tensor:
    if threat.bn == "eval":  # the first misclassified iterate counts (samples do not interact)
        return acc_at(pgd_track(threat, x, y, eps, alpha, steps, restarts, generator=gen), steps)
    adv = PGD(threat, eps, alpha, steps, restarts=restarts, generator=gen)(x, y)
    return threat.predict(adv) == y


def _robust_apgd(name, threat, x, y, eps, s: CascadeSettings, n_classes: int) -> torch.Tensor:
    adv = run_torchattack(name, threat, x, y, eps, n_classes=n_classes, seed=s.seed, steps=s.apgd_steps)
    return threat.predict(adv) == y


def attack_robust(
    model, x, y, attack: str, bn: str, eps: float, s: CascadeSettings, n_classes: int = 10, space: str = "spike"
) -> torch.Tensor:
    """Per image, whether it stays correct (BN eval) under one attack in ``space`` crafted with BN in ``bn`` mode.
    BN eval crafts in consecutive batches; BN train in the authors' batches (a seeded shuffle of 16)."""
    from .audit.suite import batch_generator

    if bn == "train":
        batches = batch_indices(x, y, s.authors_batch_size, "shuffled", s.seed)
    else:
        batches = batch_indices(x, y, s.batch_size, "dataset")
    threat = FastThreatModel(model, space, bn)
    out = torch.zeros(len(y), dtype=torch.bool)
    for i, b in enumerate(batches):
        gen = batch_generator(s.seed, i)
        xb, yb = x[b.to(x.device)], y[b.to(y.device)]
        if attack in ("pgd", "pgd7"):
            steps, restarts = (7, 1) if attack == "pgd7" else (s.steps, s.restarts)
            out[b] = _robust_pgd(threat, xb, yb, eps, s.alpha, steps, restarts, gen).cpu()
        else:
            out[b] = _robust_apgd(attack, threat, xb, yb, eps, s, n_classes).cpu()
    return out


def _row(attack_id, bn, attacked, broken, left, n, seconds) -> dict:
    return {
        "attack": attack_id,
        "bn": bn,
        "attacked": attacked,
        "broken": broken,
        "robust_after": left,
        "robust_acc_after": left / n if n else float("nan"),
        "seconds": round(seconds, 1),
    }


def cascade_worst_case(model, x, y, clean, first, eps: float, s: CascadeSettings, cascade, **how) -> dict:
    """Attack the images that a first attack left (``clean & first``, bools per image) with ``cascade`` (``(id,
    attack, bn)`` triples) at ``eps``; ``how``: ``space`` ("spike" or "pixel"), ``n_classes``, and the first attack's
    ``first_id``/``first_bn`` for its row. Returns the per-attack rows (images attacked, broken, left), the
    accuracies, the count broken beyond the first attack with its exact interval, and the per-image worst case."""
    space, n_classes = how.get("space", "spike"), how.get("n_classes", 10)
    clean, first = torch.as_tensor(clean, dtype=torch.bool), torch.as_tensor(first, dtype=torch.bool)
    if not len(clean) == len(first) == len(y):
        raise SnnlibError(f"worst case: {len(y)} images but {len(clean)}/{len(first)} outcomes")
    n, alive = len(y), clean & first
    rows = [_row(how.get("first_id", "pgd7"), how.get("first_bn", "eval"), int(clean.sum()), 0, int(alive.sum()), n, 0)]
    rows[0]["broken"] = rows[0]["attacked"] - rows[0]["robust_after"]
    for attack_id, attack, bn in cascade:
        t0, idx = time.time(), torch.nonzero(alive).flatten()
        if len(idx):
            d = idx.to(x.device)
            with flush_denormals():
                robust = attack_robust(model, x[d], y[d], attack, bn, eps, s, n_classes, space)
            alive[idx[~robust]] = False
        rows.append(
            _row(attack_id, bn, len(idx), int(len(idx) - alive[idx].sum()), int(alive.sum()), n, time.time() - t0)
        )
    beyond = rows[0]["robust_after"] - int(alive.sum())
    lo, hi = stats.clopper_pearson(beyond, rows[0]["robust_after"]) if rows[0]["robust_after"] else (0.0, 1.0)
    return {
        "eps": float(eps),
        "space": space,
        "rows": rows,
        "clean": stats.accuracy(clean),
        "first": stats.accuracy(clean & first),
        "worst": stats.accuracy(alive),
        "beyond_pgd7": {"k": beyond, "n": rows[0]["robust_after"], "lo": lo, "hi": hi},
        "per_sample": {"worst": alive.int().tolist()},
    }
