"""torchattacks interop: run any torchattacks attack (pinned 3.3.0) under a snnlib threat model.

torchattacks assumes images ``[B,C,H,W]`` in [0, 1]; :class:`AsImages` presents any attacked input
(spikes ``[T,B,C,H,W]``, DVS frames ``[B,T,C,H,W]``) in that shape and converts back.
"""

from __future__ import annotations

import torch

from ..errors import SnnlibError, check_choice
from .threat import PAPER_EPS, ThreatModel, bn_mode, check_eps


class AsImages(torch.nn.Module):
    """Show torchattacks (which assumes images ``[B,C,H,W]`` in [0,1]) any attacked input.

    The input ``z`` of a threat model (spikes ``[T,B,C,H,W]``, or DVS frames
    ``[B,T,C,H,W]``) is presented as ``[B, T*C, H, W]``; :meth:`to_images` and
    :meth:`from_images` convert both ways.
    """

    def __init__(self, threat: "ThreatModel", z: torch.Tensor):
        super().__init__()
        self.model, self.threat = threat.model, threat  # the model is registered so torchattacks finds its device
        self.spike_layout = threat.space == "spike"
        self.shape = tuple(z.shape)

    def to_images(self, z):
        zb = z.transpose(0, 1) if self.spike_layout else z
        return zb.reshape(zb.shape[0], -1, *zb.shape[-2:]).contiguous()

    def from_images(self, x4):
        b = x4.shape[0]
        if self.spike_layout:
            return x4.reshape(b, self.shape[0], *self.shape[2:]).transpose(0, 1)
        return x4.reshape(b, *self.shape[1:])

    def forward(self, x4):
        return self.threat.logits(self.from_images(x4))


TORCHATTACKS = (
    "fgsm",
    "pgd",
    "apgd-ce",
    "apgd-dlr",
    "apgdt",
    "square",
    "eotpgd",
    "fab",
    "autoattack",
    "autoattack-torchattacks",
)


def autoattack_standard(model, eps: float, n_classes: int, seed: int = 0, steps: int = 100, n_queries: int = 5000):
    """AutoAttack's standard version as Croce & Hein (2020) run it: APGD-CE, APGD-T (9 targets), FAB-T (9
    targets) with ``steps`` iterations each, then Square with ``n_queries`` queries (no rescaled schedule),
    each on the images the earlier ones left robust. torchattacks 3.3.0's own ``AutoAttack`` keeps 10
    steps per attack (about 10x weaker), so it is built here from torchattacks' attacks."""
    import torchattacks as ta

    targets = min(9, n_classes - 1)
    apgdt = ta.APGDT(model, eps=eps, steps=steps, n_classes=targets + 1, seed=seed)
    fab = ta.FAB(model, eps=eps, steps=steps, n_classes=targets + 1, multi_targeted=True, seed=seed)
    square = ta.Square(model, eps=eps, n_queries=n_queries, resc_schedule=False, seed=seed)
    return ta.MultiAttack([ta.APGD(model, eps=eps, steps=steps, loss="ce", seed=seed), apgdt, fab, square])


def torchattack(
    name: str, model: torch.nn.Module, eps: float = PAPER_EPS, n_classes: int = 10, seed: int = 0, **kwargs
):
    """A torchattacks attack on ``model`` by name, with ``n_classes`` passed where torchattacks needs it.

    Names: fgsm, pgd, apgd-ce, apgd-dlr, apgdt, square, eotpgd, fab, autoattack (the standard version with
    the original budget, :func:`autoattack_standard`), autoattack-torchattacks (torchattacks' own, 10 steps
    per attack). Extra keyword arguments go to the constructor (e.g. ``steps``, ``n_queries``, ``eot_iter``).
    """
    import torchattacks as ta

    check_choice("torchattacks attack", name, TORCHATTACKS)
    check_eps(eps)
    if name in ("apgd-dlr", "apgdt", "autoattack", "autoattack-torchattacks") and n_classes < 3:
        raise SnnlibError(f"{name} uses the DLR loss, which needs at least 3 classes (got n_classes={n_classes})")
    make = {
        "fgsm": lambda: ta.FGSM(model, eps=eps, **kwargs),
        "pgd": lambda: ta.PGD(model, eps=eps, **kwargs),
        "apgd-ce": lambda: ta.APGD(model, eps=eps, loss="ce", seed=seed, **kwargs),
        "apgd-dlr": lambda: ta.APGD(model, eps=eps, loss="dlr", seed=seed, **kwargs),
        "apgdt": lambda: ta.APGDT(model, eps=eps, n_classes=n_classes, seed=seed, **kwargs),
        "square": lambda: ta.Square(model, eps=eps, seed=seed, **kwargs),
        "eotpgd": lambda: ta.EOTPGD(model, eps=eps, **kwargs),
        "fab": lambda: ta.FAB(model, eps=eps, n_classes=n_classes, seed=seed, **kwargs),
        "autoattack": lambda: autoattack_standard(model, eps, n_classes, seed, **kwargs),
        "autoattack-torchattacks": lambda: ta.AutoAttack(model, eps=eps, n_classes=n_classes, seed=seed, **kwargs),
    }
    try:
        return make[name]()
    except TypeError as e:
        raise SnnlibError(f"torchattacks {name}: {e}") from None


def run_torchattack(
    name: str,
    threat: ThreatModel,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float = PAPER_EPS,
    n_classes: int = 10,
    seed: int = 0,
    **kwargs,
) -> torch.Tensor:
    """Run a torchattacks attack under a threat model; returns the adversarial input in that space
    (spike space: ``[T,B,...]``). BN mode follows ``threat.bn`` (statistics restored afterwards)."""
    z = threat.inputs(x)
    view = AsImages(threat, z)
    target = threat.model if z.dim() == 4 else view
    atk = torchattack(name, target, eps=eps, n_classes=n_classes, seed=seed, **kwargs)
    if threat.bn == "train":
        for a in getattr(atk, "attacks", [atk]):  # MultiAttack: each of its attacks
            a.set_model_training_mode(model_training=True)
    with bn_mode(threat.model, threat.bn):
        adv = atk(view.to_images(z) if z.dim() != 4 else z, y)
    return adv if z.dim() == 4 else view.from_images(adv).contiguous()
