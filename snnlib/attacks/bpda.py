"""Attacks on phase-coded SNNs that work with the encoder's exact (discrete) forward instead of a
substitute backward (BPDA, Athalye et al. 2018, taken to its discrete end).

With eps = 8/255 every pixel can take one of the 17 levels ``p0 - 8 .. p0 + 8`` (clipped to 0..255),
and each level has a fixed bit pattern over the T steps. Both attacks follow the network's gradient
with respect to the *spikes* (exact: no encoder backward is involved) and stay on valid encodings of
images inside the pixel eps-ball:

- :class:`SpikeProjectedPGD`: a signed step in spike space, then the projection onto the valid
  encodings (per pixel, the level whose bit pattern is closest in l2 to the stepped spikes);
- :class:`LevelSearch`: per pixel, the level with the largest first-order gain ``sum_t g_t (b_t(q) -
  b_t(p))`` (a discrete FGSM step over the 17 levels), repeated.

Both return images (pixel space). An image counts as broken if any iterate misclassifies it.
"""

from __future__ import annotations

import torch

from ..encoding import PhaseEncoder
from ..errors import NotApplicable
from .threat import PAPER_EPS, Attack, ThreatModel, check_count


def _phase(threat: ThreatModel) -> PhaseEncoder:
    enc = getattr(threat.model, "encoder", None)
    if not isinstance(enc, PhaseEncoder) or enc.weighted:
        raise NotApplicable(
            "level attacks need an unweighted phase encoder (the model's is "
            f"{type(enc).__name__ if enc is not None else 'absent'})"
        )
    if threat.space != "pixel":
        raise NotApplicable("level attacks perturb images: use a pixel-space threat model")
    return enc


class _LevelAttack(Attack):
    def __init__(self, threat: ThreatModel, eps: float = PAPER_EPS, steps: int = 20):
        super().__init__(threat, eps)
        self.enc, self.steps = _phase(threat), check_count(steps, "steps")
        self.radius = int(round(self.eps * (2**self.enc.K - 1)))

    def _levels(self, p0):
        """Candidate levels ``[2r+1, B, C, H, W]`` within the eps-ball, clipped to the valid range."""
        k = torch.arange(-self.radius, self.radius + 1, device=p0.device).view(-1, *[1] * p0.dim())
        return (p0.unsqueeze(0) + k).clamp(0, 2**self.enc.K - 1).to(p0.dtype)

    def _grad(self, p, y):
        """Spikes of levels ``p``, the loss gradient w.r.t. them, and whether the model is fooled."""
        s = self.enc.encode_levels(p, torch.float32).requires_grad_(True)
        logits = self.threat.model.forward_spikes(s)
        (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits.float(), y, reduction="sum"), s)
        return s.detach(), g, logits.argmax(1) != y

    def _pick(self, cands, score):
        """Per pixel, the candidate level with the highest score (``score``: [2r+1, B, C, H, W])."""
        return cands.gather(0, score.argmax(0, keepdim=True)).squeeze(0)

    def run(self, x, y):
        p0 = self.enc.quantise(x)
        cands, p = self._levels(p0), p0.clone()
        bits = self.enc.bits(cands, torch.float32)  # [T, 2r+1, B, C, H, W]
        best, broken = p0.clone(), torch.zeros(len(y), dtype=torch.bool, device=y.device)
        for i in range(self.steps + 1):
            s, g, wrong = self._grad(p, y)
            new = wrong & ~broken
            best[new], broken = p[new], broken | new
            if i == self.steps:
                break
            p = self._pick(cands, self.score(bits, s, g))
        best[~broken] = p[~broken]
        return ~broken, best.to(x.dtype) / (2**self.enc.K - 1)

    def perturb(self, z0, y):
        return self.run(z0, y)[1]

    def robust(self, x, y) -> torch.Tensor:
        with self.threat.crafting():
            return self.run(x.detach(), y)[0]


class SpikeProjectedPGD(_LevelAttack):
    """PGD in spike space (signed steps of ``alpha`` spike units), each iterate projected onto the valid phase
    encodings of images in the pixel eps-ball: the level whose bit pattern is nearest in l2."""

    def __init__(self, threat: ThreatModel, eps: float = PAPER_EPS, steps: int = 20, alpha: float = 0.5):
        super().__init__(threat, eps, steps)
        self.alpha = float(alpha)

    def score(self, bits, s, g):
        stepped = (s + self.alpha * g.sign()).unsqueeze(1)  # [T, 1, B, ...]
        return -((bits - stepped) ** 2).sum(0)  # nearest valid encoding


class LevelSearch(_LevelAttack):
    """Discrete search over the 17 levels eps = 8/255 allows: per pixel, the level with the largest
    first-order loss gain ``sum_t g_t (b_t(q) - s_t)`` at the current encoding, repeated."""

    def score(self, bits, s, g):
        return (g.unsqueeze(1) * (bits - s.unsqueeze(1))).sum(0)
