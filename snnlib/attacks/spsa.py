"""SPSA (Uesato et al. 2018): a gradient-free attack that estimates the gradient of the margin loss from
random finite differences and follows it with Adam.

Per iteration and image: ``samples`` Rademacher directions v, the estimate
``mean_v [f(x + delta v) - f(x - delta v)] / (2 delta) * v`` of the gradient of the margin
``f = max_{j != y} z_j - z_y``, an Adam step of size ``lr`` on the perturbation, and the projection
onto the l_inf eps-ball and [0, 1]. No gradient of the model is used, so obfuscated gradients do not
stop it. (torchattacks 3.3.0 has no SPSA, and the maintained implementations do not install beside
the pinned stack; this follows advertorch's and cleverhans' defaults: delta 0.01, lr 0.01.)
"""

from __future__ import annotations

import torch

from ..errors import NotApplicable
from .threat import PAPER_EPS, Attack, ThreatModel, check_count, project


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``max_{j != y} z_j - z_y`` per sample: positive once the image is misclassified."""
    z = logits.float()
    true = z.gather(1, y[:, None]).squeeze(1)
    other = z.scatter(1, y[:, None], float("-inf")).amax(1)
    return other - true


class SPSA(Attack):
    """SPSA with Adam on the margin loss; ``robust(x, y)`` is True where no iterate misclassified the image."""

    def __init__(
        self,
        threat: ThreatModel,
        eps: float = PAPER_EPS,
        steps: int = 100,
        samples: int = 64,
        delta: float = 0.01,
        lr: float = 0.01,
        batch: int = 32,
        generator: torch.Generator | None = None,
    ):
        super().__init__(threat, eps)
        if threat.space != "pixel":
            raise NotApplicable("this SPSA perturbs images: use a pixel-space threat model")
        self.steps, self.samples = check_count(steps, "SPSA steps"), check_count(samples, "SPSA samples")
        self.delta, self.lr, self.batch, self.generator = (
            float(delta),
            float(lr),
            check_count(batch, "batch"),
            generator,
        )

    def _estimate(self, z, y):
        """The SPSA gradient estimate at ``z`` (pixel space, one image per row)."""
        g = torch.zeros_like(z)
        left = self.samples
        while left > 0:
            k = min(self.batch, left)
            v = (torch.randint(0, 2, (k, *z.shape), generator=self.generator) * 2 - 1).to(z)
            zz = torch.cat([(z + self.delta * v).clamp(0, 1), (z - self.delta * v).clamp(0, 1)]).flatten(0, 1)
            with torch.no_grad():
                f = margin(self.threat.logits(zz), y.repeat(2 * k)).view(2, k, -1)
            g += ((f[0] - f[1]) / (2 * self.delta)).view(k, -1, *[1] * (z.dim() - 1)).mul(v).sum(0)
            left -= k
        return g / self.samples

    def run(self, z0, y):
        """(per-image robustness, adversarial images); images leave the run once misclassified."""
        z, m, v = z0.clone(), torch.zeros_like(z0), torch.zeros_like(z0)
        alive = torch.arange(len(y), device=y.device)
        best = z0.clone()
        for i in range(1, self.steps + 1):
            if len(alive) == 0:
                break
            g = self._estimate(z[alive], y[alive])
            m[alive], v[alive] = 0.9 * m[alive] + 0.1 * g, 0.999 * v[alive] + 0.001 * g * g
            step = self.lr * (m[alive] / (1 - 0.9**i)) / ((v[alive] / (1 - 0.999**i)).sqrt() + 1e-8)
            z[alive] = project(z[alive] + step, z0[alive], self.eps)  # ascent on the margin
            with torch.no_grad():
                wrong = self.threat.logits(z[alive]).argmax(1) != y[alive]
            best[alive[wrong]] = z[alive[wrong]]
            alive = alive[~wrong]
        best[alive] = z[alive]
        robust = torch.zeros(len(y), dtype=torch.bool, device=y.device)
        robust[alive] = True
        return robust, best

    def perturb(self, z0, y):
        return self.run(z0, y)[1]

    def robust(self, x, y) -> torch.Tensor:
        z0 = self.threat.inputs(x)
        with self.threat.crafting():
            return self.run(z0, y)[0]
