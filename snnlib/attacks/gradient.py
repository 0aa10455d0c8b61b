"""Gradient attacks: FGSM (paper Eq. 2), PGD (Eq. 3, with restarts), PGD that tracks every iterate,
and EOT-PGD for stochastic models. One class per attack, over :class:`~snnlib.attacks.threat.Attack`.
"""

from __future__ import annotations

import torch

from ..errors import SnnlibError
from . import threat as _t
from .threat import PAPER_EPS, Attack, ThreatModel, ce_losses, check_count, project


class FGSM(Attack):
    """FGSM, paper Eq. 2: ``x + eps * sign(grad_x H(y, y_hat))``, clamped to [0, 1]."""

    def perturb(self, z0, y):
        g, _ = self.threat.grad(z0, y)
        return torch.clamp(z0 + self.eps * g.sign(), 0, 1).detach()


class PGD(Attack):
    """PGD, paper Eq. 3 (Madry et al.): uniform random start in the eps-ball, ``steps`` signed steps of
    size ``alpha``, each projected onto the l_inf ball and clamped to [0, 1]; the last iterate is returned.

    With ``restarts > 1`` the per-sample worst case is kept (first run that misclassifies, else the
    highest loss). ``loss_fn(logits, y)`` must return per-sample losses.
    """

    def __init__(
        self,
        threat: ThreatModel,
        eps: float = PAPER_EPS,
        alpha: float = 0.01,
        steps: int = 7,
        random_start: bool = True,
        restarts: int = 1,
        loss_fn=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__(threat, eps)
        self.steps, self.restarts = check_count(steps, "PGD steps"), check_count(restarts, "PGD restarts")
        self.alpha = _t.check_eps(alpha, "PGD step alpha")
        self.random_start, self.loss_fn, self.generator = random_start, loss_fn, generator

    def perturb(self, z0, y):
        z = _t.random_start(z0, self.eps, self.generator) if self.random_start else z0
        for _ in range(self.steps):
            g, _ = self.threat.grad(z, y, self.loss_fn)
            z = project(z + self.alpha * g.sign(), z0, self.eps)
        return z

    def _loss(self, z, y):
        with torch.no_grad():
            return (self.loss_fn or ce_losses)(self.threat.logits(z), y)

    def __call__(self, x, y):
        best = super().__call__(x, y)
        if self.restarts == 1:
            return best
        fooled, best_loss = self.threat.predict(best) != y, self._loss(best, y)
        for _ in range(self.restarts - 1):
            z = super().__call__(x, y)
            loss, now = self._loss(z, y), self.threat.predict(z) != y
            take = (~fooled & now) | (~fooled & ~now & (loss > best_loss))
            sel = torch.nonzero(take).flatten().to(z.device)  # along the batch dim (1 for spikes [T,B,...])
            best.index_copy_(self.threat.batch_dim, sel, z.index_select(self.threat.batch_dim, sel))
            best_loss[take] = loss[take]
            fooled |= now
        return best


def _select(z, zs, ys, idx, keep, bd):
    k = torch.nonzero(keep).flatten()
    kd = k.to(z.device)
    return z.index_select(bd, kd), zs.index_select(bd, kd), ys[kd], idx[k]


def _track_restart(threat, z0, y, idx, start, broken_at, stalled, r, eps, alpha, steps, loss_fn):
    """One restart of :func:`pgd_track` on the samples ``idx``; fills row ``r`` of ``broken_at``/``stalled``."""
    bd = threat.batch_dim
    sel = idx.to(z0.device)
    z, zs, ys = start.index_select(bd, sel), z0.index_select(bd, sel), y[sel]
    for s in range(steps + 1):
        if s < steps:
            g, logits = threat.grad(z, ys, loss_fn)
        else:
            with torch.no_grad():
                logits = threat.logits(z)
        wrong = (logits.argmax(1) != ys).cpu()
        broken_at[r, idx[wrong]] = s
        keep = ~wrong
        if s < steps:
            flat = g.transpose(0, bd).flatten(1) if bd else g.flatten(1)
            zero = ~(flat != 0).any(1).cpu()
            stalled[r, idx[zero & keep]] = True
            keep &= ~zero
            z = project(z + alpha * g.sign(), zs, eps)
        if not keep.all():
            z, zs, ys, idx = _select(z, zs, ys, idx, keep, bd)
        if len(idx) == 0:
            break


def pgd_track(
    threat: ThreatModel,
    x,
    y,
    eps: float = PAPER_EPS,
    alpha: float = 0.01,
    steps: int = 200,
    restarts: int = 1,
    generator: torch.Generator | None = None,
    loss_fn=None,
    random_start: bool = True,
) -> dict:
    """PGD that records, per sample, the first iterate that is misclassified (Madry et al. 2017).

    Iterates z_0 (random start) .. z_steps are checked; ``broken_at[r, i]`` is the first step s at
    which restart r misclassified sample i (``steps + 1``: never), so PGD-k's accuracy is read off
    the same trajectory for every k <= steps (:func:`acc_at`). A sample leaves the batch once
    broken, or once its gradient is exactly zero (then every later iterate is the same: ``stalled``).
    Restart r attacks only the samples that survived all earlier restarts. Needs BN in eval mode,
    where samples do not interact, so dropping some changes nobody else.
    """
    if threat.bn != "eval":
        raise SnnlibError("pgd_track needs bn='eval' (samples must not interact through batch statistics)")
    eps, steps, restarts = _t.check_eps(eps), check_count(steps, "steps"), check_count(restarts, "restarts")
    z0, n = threat.inputs(x), len(y)
    broken_at = torch.full((restarts, n), steps + 1, dtype=torch.long)
    stalled = torch.zeros((restarts, n), dtype=torch.bool)
    alive = torch.ones(n, dtype=torch.bool)
    with threat.crafting():
        for r in range(restarts):
            start = _t.random_start(z0, eps, generator)  # drawn even without a random start: same stream
            idx = torch.nonzero(alive).flatten()
            if len(idx) == 0:
                break
            _track_restart(
                threat, z0, y, idx, start if random_start else z0, broken_at, stalled, r, eps, alpha, steps, loss_fn
            )
            alive &= broken_at[r] == steps + 1
    return {"broken_at": broken_at, "stalled": stalled, "steps": steps}


def acc_at(track: dict, k: int, restarts: int | None = None) -> torch.Tensor:
    """Per-sample robustness (bool) after ``k`` steps of the first ``restarts`` restarts of a :func:`pgd_track` run."""
    b = track["broken_at"][: restarts or track["broken_at"].shape[0]]
    return (b > k).all(0)


def concat_tracks(parts: list[dict], restarts: int = 1, steps: int | None = None) -> dict:
    """:func:`pgd_track` results of consecutive batches joined along the samples."""
    if not parts:
        return {
            "broken_at": torch.zeros((restarts, 0), dtype=torch.long),
            "stalled": torch.zeros((restarts, 0), dtype=torch.bool),
            "steps": steps,
        }
    return {
        "broken_at": torch.cat([p["broken_at"] for p in parts], 1),
        "stalled": torch.cat([p["stalled"] for p in parts], 1),
        "steps": parts[0]["steps"],
    }


class EOTPGD(Attack):
    """PGD on the expectation over ``samples`` forward passes (EOT, Athalye et al. 2018b), for
    stochastic models such as rate-coded SNNs: each step follows the sum of ``samples`` gradients."""

    def __init__(
        self,
        threat: ThreatModel,
        eps: float = PAPER_EPS,
        alpha: float = 0.01,
        steps: int = 7,
        samples: int = 10,
        generator: torch.Generator | None = None,
    ):
        super().__init__(threat, eps)
        self.alpha, self.steps = _t.check_eps(alpha, "alpha"), check_count(steps, "EOT-PGD steps")
        self.samples, self.generator = check_count(samples, "EOT samples"), generator

    def perturb(self, z0, y):
        z = _t.random_start(z0, self.eps, self.generator)
        for _ in range(self.steps):
            g = sum(self.threat.grad(z, y)[0] for _ in range(self.samples))
            z = project(z + self.alpha * g.sign(), z0, self.eps)
        return z


def pgd_trace(
    threat: ThreatModel,
    x,
    y,
    eps: float = PAPER_EPS,
    alpha: float = 0.01,
    steps: int = 50,
    generator: torch.Generator | None = None,
) -> dict:
    """PGD's whole trajectory: per iterate (0 = random start .. ``steps``) and sample, the loss and whether the
    iterate is misclassified. Nothing stops early, so this shows whether iterates climb the loss or wander
    in and out of misclassification (``flips``: how often a sample's prediction changes along the way)."""
    eps, steps = _t.check_eps(eps), check_count(steps, "steps")
    z0 = threat.inputs(x)
    losses, wrong = [], []
    with threat.crafting():
        z = _t.random_start(z0, eps, generator)
        for s in range(steps + 1):
            g, logits = threat.grad(z, y)
            losses.append(ce_losses(logits, y).cpu())
            wrong.append((logits.argmax(1) != y).cpu())
            if s < steps:
                z = project(z + alpha * g.sign(), z0, eps)
    loss, wrong = torch.stack(losses), torch.stack(wrong)
    return {"loss": loss, "wrong": wrong, "flips": (wrong[1:] != wrong[:-1]).sum(0), "steps": steps}
