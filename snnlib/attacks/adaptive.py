"""Step-size-adaptive PGD (SA-PGD, Wang et al. 2025), alone or with the adaptive surrogate (ASSG).

SA-PGD keeps APGD's skeleton but uses normalised moments of the gradient (per sample):
``m = 0.5 m + g / mean|g|``, ``v = 0.8 v + g^2 / mean(g^2)``, a step ``clip(eta m / sqrt(v), -eta, eta)``
and the projection onto the eps-ball and [0, 1]. The step size ``eta`` starts at eps and halves on a
fixed schedule (after 22 %, then every 19 %, 16 %, ... of the iterations, never fewer than 6 %). The
start is a random point on the eps-sphere. An image counts as broken if any iterate misclassifies it;
for those, the first misclassified iterate is returned.
"""

from __future__ import annotations

import torch

from ..errors import SnnlibError
from .estimators import adaptive_surrogate, reset_adaptive
from .threat import PAPER_EPS, Attack, ThreatModel, check_count, project


def halving_schedule(steps: int) -> set[int]:
    """Iterations after which SA-PGD halves its step size (Wang et al. 2025's schedule)."""
    out, k, i = set(), max(int(0.22 * steps), 1), 0
    while True:
        i += k
        if i >= steps:
            return out
        out.add(i)
        k = max(k - int(0.03 * steps), max(int(0.06 * steps), 1))


def _take(dst: torch.Tensor, src: torch.Tensor, mask: torch.Tensor, bd: int) -> None:
    """Copy the samples ``mask`` of ``src`` into ``dst`` along the batch dimension ``bd``."""
    idx = torch.nonzero(mask).flatten().to(dst.device)
    if len(idx):
        dst.index_copy_(bd, idx, src.index_select(bd, idx))


def _per_sample_mean(t: torch.Tensor, bd: int) -> torch.Tensor:
    flat = t.transpose(0, bd).flatten(1) if bd else t.flatten(1)
    shape = [1] * t.dim()
    shape[bd] = -1
    return flat.mean(1).view(shape)


class SAPGD(Attack):
    """SA-PGD (Wang et al. 2025); with ``assg=A`` (a float in (0, 0.5)) the model's IF neurons use the
    adaptive surrogate with that A while crafting (:func:`~snnlib.attacks.estimators.adaptive_surrogate`).

    ``attack.robust(x, y)`` gives per-image robustness (no iterate misclassified); ``attack(x, y)`` the
    adversarial inputs.
    """

    def __init__(
        self,
        threat: ThreatModel,
        eps: float = PAPER_EPS,
        steps: int = 100,
        assg: float | None = None,
        generator: torch.Generator | None = None,
        loss_fn=None,
    ):
        super().__init__(threat, eps)
        if threat.bn != "eval":
            raise SnnlibError("SA-PGD needs bn='eval' (samples must not interact through batch statistics)")
        self.steps, self.assg, self.generator, self.loss_fn = (
            check_count(steps, "SA-PGD steps"),
            assg,
            generator,
            loss_fn,
        )

    def _start(self, z0):
        t = torch.rand(z0.shape, generator=self.generator, dtype=z0.dtype).to(z0.device) * 2 - 1
        bd = self.threat.batch_dim
        flat = t.transpose(0, bd).flatten(1) if bd else t.flatten(1)
        shape = [1] * t.dim()
        shape[bd] = -1
        return torch.clamp(z0 + self.eps * t / flat.abs().amax(1).clamp_min(1e-12).view(shape), 0, 1)

    def _run(self, z0, y):
        bd, z = self.threat.batch_dim, self._start(z0)
        best, broken = z.clone(), torch.zeros(len(y), dtype=torch.bool, device=y.device)
        m = v = None
        eta, halve = self.eps, halving_schedule(self.steps)
        for i in range(self.steps + 1):
            g, logits = self.threat.grad(z, y, self.loss_fn)
            now = (logits.argmax(1) != y) & ~broken
            _take(best, z, now, bd)
            broken |= now
            if i == self.steps:
                break
            gn = g / _per_sample_mean(g.abs(), bd).clamp_min(1e-12)
            g2 = g * g / _per_sample_mean(g * g, bd).clamp_min(1e-24)
            m, v = (gn, g2) if m is None else (0.5 * m + gn, 0.8 * v + g2)
            z = project(z + torch.clamp(eta * m / (v.sqrt() + 1e-12), -eta, eta), z0, self.eps)
            if i + 1 in halve:
                eta /= 2
        _take(best, z, ~broken, bd)
        return best, broken

    def perturb(self, z0, y):
        return self.robust_and_adv(z0, y)[1]

    def robust_and_adv(self, z0, y):
        if self.assg is None:
            best, broken = self._run(z0, y)
        else:
            with adaptive_surrogate(self.threat.model, self.assg):
                reset_adaptive(self.threat.model)
                best, broken = self._run(z0, y)
        return ~broken, best

    def robust(self, x, y) -> torch.Tensor:
        """Per-image robustness: True where no iterate of the run was misclassified."""
        z0 = self.threat.inputs(x)
        with self.threat.crafting():
            return self.robust_and_adv(z0, y)[0]
