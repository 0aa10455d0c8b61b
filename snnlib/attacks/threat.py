"""Threat models: what an attack perturbs, how BatchNorm behaves while crafting, and the shared pieces
of every gradient attack (random start, projection, loss gradient).

Each switch is named after where it comes from:

- ``space="pixel"`` (default) perturbs the image before phase coding; the gradient reaches the
  pixels through the encoder's straight-through backward (BPDA). This is the standard threat
  model and what the paper's Fig. 1 shows. ``space="spike"`` perturbs the encoded spike tensor
  ``[T,B,C,H,W]`` (values then leave {0,1}); that is what the authors' code does
  (``img = encoder(img)``, then the attack). For CIFAR10-DVS both spaces are the normalised frames.
- ``bn="eval"`` (default) crafts with BatchNorm in eval mode. ``bn="train"`` reproduces the
  authors' code, which crafts after ``model.train()``: BN then normalises with the attacked
  batch's own statistics. The running statistics are restored afterwards (``restore_bn=True``),
  so crafting never changes the model; ``restore_bn=False`` keeps the authors' leak
  (:mod:`snnlib.authors`).

The named threat models (space, BN mode, eps, batch order and size) live in one registry,
:mod:`snnlib.attacks.registry`; the authors' code defaults to eps=6/255 (``AUTHORS_EPS``) while the
paper's text says 8/255 (``PAPER_EPS``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import SnnlibError, check_choice
from .registry import PAPER_EPS, threat

SPACES = ("pixel", "spike")
BN_MODES = ("eval", "train")
_BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@contextlib.contextmanager
def bn_mode(model: torch.nn.Module, mode: str = "eval", restore: bool = True):
    """Run a block with the model in eval or train mode; with ``restore`` the running statistics
    are put back exactly afterwards (train mode moves them)."""
    check_choice("bn mode", mode, BN_MODES)
    was = model.training
    saved = {}
    if mode == "train" and restore:
        saved = {n: b.detach().clone() for n, b in model.named_buffers() if n.endswith(_BN_BUFFERS)}
    model.train(mode == "train")
    try:
        yield model
    finally:
        if saved:
            bufs = dict(model.named_buffers())
            with torch.no_grad():
                for n, b in saved.items():
                    bufs[n].copy_(b)
        model.train(was)


@contextlib.contextmanager
def frozen(model: torch.nn.Module):
    """Parameters stop requiring grad inside the block (restored after): no weight-gradient work."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, rg in flags:
            p.requires_grad_(rg)


def ce_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy (paper Eq. 1), in float32 whatever the logits' dtype."""
    return F.cross_entropy(logits.float(), y, reduction="none")


def check_eps(eps, name: str = "eps") -> float:
    """An attack budget in pixel units, in [0, 1]."""
    try:
        v = float(eps)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(eps, bool) or not 0 <= v <= 1:
        raise SnnlibError(f"{name} must lie in [0, 1] (pixel units, e.g. 8/255), got {eps!r}")
    return v


def check_count(value, name: str, low: int = 1) -> int:
    """An integer budget (steps, restarts, queries, ...) of at least ``low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise SnnlibError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def random_start(z0: torch.Tensor, eps: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniform random point of the l_inf eps-ball around ``z0``, clamped to [0, 1] (Madry et al. 2017).
    Drawn on the CPU from ``generator`` so that runs are reproducible on any device."""
    u = torch.rand(z0.shape, generator=generator, dtype=z0.dtype).to(z0.device)
    return torch.clamp(z0 + (2 * u - 1) * eps, 0, 1)


def project(z: torch.Tensor, z0: torch.Tensor, eps: float) -> torch.Tensor:
    """Projection onto the l_inf eps-ball around ``z0`` intersected with [0, 1] (the Pi of Eq. 3)."""
    return torch.clamp(z0 + torch.clamp(z - z0, -eps, eps), 0, 1).detach()


def batch_dim(space: str) -> int:
    """The batch dimension of an attacked input: 1 for spikes ``[T,B,...]``, else 0."""
    return 1 if space == "spike" else 0


@dataclass
class ThreatModel:
    """Where an attack perturbs the input (``space``) and how BN behaves while crafting (``bn``)."""

    model: torch.nn.Module
    space: str = "pixel"
    bn: str = "eval"
    restore_bn: bool = True

    def __post_init__(self):
        check_choice("attack space", self.space, SPACES)
        check_choice("bn mode", self.bn, BN_MODES)
        if self.space == "spike" and getattr(self.model, "encoder", None) is None:
            raise SnnlibError("space='spike' needs a SpikingClassifier with an encoder")

    @classmethod
    def preset(cls, model, name: str = "standard") -> "ThreatModel":
        """A registered threat's space and BN mode: ``standard`` (pixel + eval), ``authors`` (spike + train)."""
        t = threat(name)
        return cls(model, t.space, t.bn)

    @property
    def batch_dim(self) -> int:
        return batch_dim(self.space)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The tensor the attack perturbs: the images, or their encoded spikes."""
        if self.space == "pixel":
            return x.detach()
        with torch.no_grad():
            return self.model.encode(x).detach()

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.forward_spikes(z) if self.space == "spike" else self.model(z)

    def crafting(self):
        return bn_mode(self.model, self.bn, self.restore_bn)

    def grad(self, z: torch.Tensor, y: torch.Tensor, loss_fn=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient of the summed per-sample loss w.r.t. ``z`` (zeros where none reaches it, e.g. the
        encoder's true gradient) and the logits at ``z``. No parameter gradients are kept."""
        z = z.detach().requires_grad_(True)
        logits = self.logits(z)
        losses = (loss_fn or ce_losses)(logits, y)
        if not losses.requires_grad:
            return torch.zeros_like(z), logits.detach()
        (g,) = torch.autograd.grad(losses.sum(), z, allow_unused=True)
        return (torch.zeros_like(z) if g is None else g), logits.detach()

    def eval_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Logits in BN eval mode, without a graph."""
        with torch.no_grad(), bn_mode(self.model, "eval"):
            return self.logits(z)

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """Labels predicted for an (adversarial) input, always in BN eval mode."""
        return self.eval_logits(z).argmax(1)


class FastThreatModel(ThreatModel):
    """Drop-in :class:`ThreatModel` that crafts with frozen parameters and predicts under ``inference_mode``.

    Same numbers as :class:`ThreatModel` (the tests and the benchmark check it bit for bit). Frozen
    parameters keep the autograd graph free of weight edges, so no backward does weight-gradient work.
    """

    def grad(self, z, y, loss_fn=None):
        with frozen(self.model):
            return super().grad(z, y, loss_fn)

    def eval_logits(self, z: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), bn_mode(self.model, "eval"):
            return self.logits(z)


class Attack:
    """An attack bound to a threat model (after torchattacks' ``Attack``): ``attack(x, y)`` takes images
    ``[B,C,H,W]`` in [0, 1] and returns the adversarial input in the threat model's space. The base
    class owns the model mode: :meth:`perturb` runs inside :meth:`ThreatModel.crafting`."""

    def __init__(self, threat: ThreatModel, eps: float = PAPER_EPS):
        if not isinstance(threat, ThreatModel):
            raise SnnlibError(
                f"{type(self).__name__} takes a ThreatModel (ThreatModel(model)), got {type(threat).__name__}"
            )
        self.threat, self.eps = threat, check_eps(eps)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z0 = self.threat.inputs(x)
        with self.threat.crafting():
            return self.perturb(z0, y)

    def perturb(self, z0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError
