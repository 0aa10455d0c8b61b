"""FGSM and PGD (paper Eqs. 2-3), threat-model switches, torchattacks interop, evaluation.

Threat models (:class:`ThreatModel`), each switch named after where it comes from:

- ``space="pixel"`` (default) perturbs the image before phase coding; the
  gradient reaches the pixels through the encoder's straight-through backward
  (BPDA). This is the standard threat model and what the paper's Fig. 1 shows.
  ``space="spike"`` perturbs the encoded spike tensor ``[T,B,C,H,W]`` (values
  then leave {0,1}); that is what the authors' code does (``img = encoder(img)``,
  then the attack). For CIFAR10-DVS both spaces are the normalised frames.
- ``bn="eval"`` (default) crafts with BatchNorm in eval mode. ``bn="train"``
  reproduces the authors' code, which crafts after ``model.train()``: BN then
  normalises with the attacked batch's own statistics. Here the running
  statistics are restored afterwards, so crafting never changes the model
  (the authors' loop does change them: see :mod:`snnlib.audit`).

``THREAT_MODELS["authors"]`` is the authors' pair (spike + train); their code
also defaults to eps=6/255 (``AUTHORS_EPS``) while the paper's text says 8/255.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .errors import SnnlibError, check_choice

SPACES = ("pixel", "spike")
BN_MODES = ("eval", "train")
PAPER_EPS = 8 / 255
AUTHORS_EPS = 6 / 255
THREAT_MODELS = {"standard": ("pixel", "eval"), "authors": ("spike", "train")}


@contextlib.contextmanager
def bn_mode(model: torch.nn.Module, mode: str = "eval"):
    """Run a block with the model in eval or train mode; running statistics are restored exactly after."""
    check_choice("bn mode", mode, BN_MODES)
    was = model.training
    saved = {}
    if mode == "train":
        saved = {n: b.detach().clone() for n, b in model.named_buffers()
                 if n.endswith(("running_mean", "running_var", "num_batches_tracked"))}
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


@dataclass
class ThreatModel:
    """Where an attack perturbs the input (``space``) and how BN behaves while crafting (``bn``)."""

    model: torch.nn.Module
    space: str = "pixel"
    bn: str = "eval"

    def __post_init__(self):
        check_choice("attack space", self.space, SPACES)
        check_choice("bn mode", self.bn, BN_MODES)
        if self.space == "spike" and getattr(self.model, "encoder", None) is None:
            raise SnnlibError("space='spike' needs a SpikingClassifier with an encoder")

    @classmethod
    def preset(cls, model, name: str = "standard") -> "ThreatModel":
        """``standard`` (pixel + eval) or ``authors`` (spike + train, as the authors' code)."""
        check_choice("threat-model preset", name, tuple(THREAT_MODELS))
        space, bn = THREAT_MODELS[name]
        return cls(model, space, bn)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The tensor the attack perturbs: the images, or their encoded spikes."""
        if self.space == "pixel":
            return x.detach()
        with torch.no_grad():
            return self.model.encode(x).detach()

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.forward_spikes(z) if self.space == "spike" else self.model(z)

    def crafting(self):
        return bn_mode(self.model, self.bn)

    def grad(self, z: torch.Tensor, y: torch.Tensor, loss_fn=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient of the (summed) loss w.r.t. ``z``, and the per-sample losses. No parameter grads are kept."""
        z = z.detach().requires_grad_(True)
        logits = self.logits(z)
        losses = (loss_fn or _ce)(logits, y)
        (g,) = torch.autograd.grad(losses.sum(), z)
        return g, losses.detach()

    @torch.no_grad()
    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """Labels predicted for an (adversarial) input, always in BN eval mode."""
        with bn_mode(self.model, "eval"):
            return self.logits(z).argmax(1)


def _ce(logits, y):
    return F.cross_entropy(logits.float(), y, reduction="none")


def _check_eps(eps, name="eps"):
    if not 0 <= float(eps) <= 1:
        raise SnnlibError(f"{name} must lie in [0, 1] (pixel units, e.g. 8/255), got {eps}")


class FGSM:
    """FGSM, paper Eq. 2: ``x + eps * sign(grad_x H(y, y_hat))``, clamped to [0, 1]."""

    def __init__(self, threat: ThreatModel, eps: float = PAPER_EPS):
        _check_eps(eps)
        self.threat, self.eps = threat, float(eps)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = self.threat.inputs(x)
        with self.threat.crafting():
            g, _ = self.threat.grad(z, y)
        return torch.clamp(z + self.eps * g.sign(), 0, 1).detach()


class PGD:
    """PGD, paper Eq. 3 (Madry et al.): uniform random start in the eps-ball, ``steps`` signed
    steps of size ``alpha``, each projected onto the l_inf ball and clamped to [0, 1].

    With ``restarts > 1`` the per-sample worst case is kept (first run that misclassifies,
    else the highest loss). ``loss_fn(logits, y)`` must return per-sample losses.
    """

    def __init__(self, threat: ThreatModel, eps: float = PAPER_EPS, alpha: float = 0.01, steps: int = 7,
                 random_start: bool = True, restarts: int = 1, loss_fn=None, generator: torch.Generator | None = None):
        _check_eps(eps)
        if steps < 1 or restarts < 1:
            raise SnnlibError(f"PGD needs steps >= 1 and restarts >= 1, got steps={steps}, restarts={restarts}")
        self.threat, self.eps, self.alpha, self.steps = threat, float(eps), float(alpha), int(steps)
        self.random_start, self.restarts, self.loss_fn, self.generator = random_start, int(restarts), loss_fn, generator

    def _run(self, z0, y):
        z = z0
        if self.random_start:
            u = torch.rand(z0.shape, generator=self.generator, dtype=z0.dtype).to(z0.device)
            z = torch.clamp(z0 + (2 * u - 1) * self.eps, 0, 1)
        for _ in range(self.steps):
            g, _ = self.threat.grad(z, y, self.loss_fn)
            z = z + self.alpha * g.sign()
            z = torch.clamp(z0 + torch.clamp(z - z0, -self.eps, self.eps), 0, 1).detach()
        return z

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z0 = self.threat.inputs(x)
        with self.threat.crafting():
            best = self._run(z0, y)
        if self.restarts == 1:
            return best
        fooled = self.threat.predict(best) != y
        with torch.no_grad():
            best_loss = (self.loss_fn or _ce)(self.threat.logits(best), y)
        for _ in range(self.restarts - 1):
            with self.threat.crafting():
                z = self._run(z0, y)
            with torch.no_grad():
                loss = (self.loss_fn or _ce)(self.threat.logits(z), y)
            now = self.threat.predict(z) != y
            take = (~fooled & now) | (~fooled & ~now & (loss > best_loss))
            best[take], best_loss[take] = z[take], loss[take]
            fooled |= now
        return best


# ------------------------------------------------------------- torchattacks


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


TORCHATTACKS = ("fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgdt", "square", "eotpgd", "fab", "autoattack")


def torchattack(name: str, model: torch.nn.Module, eps: float = PAPER_EPS, n_classes: int = 10, seed: int = 0,
                **kwargs):
    """A torchattacks attack on ``model`` by name, with ``n_classes`` passed where torchattacks needs it.

    Names: fgsm, pgd, apgd-ce, apgd-dlr, apgdt, square, eotpgd, fab, autoattack. Extra keyword
    arguments go to the torchattacks constructor (e.g. ``steps``, ``n_queries``, ``eot_iter``).
    """
    import torchattacks as ta

    check_choice("torchattacks attack", name, TORCHATTACKS)
    _check_eps(eps)
    if name in ("apgd-dlr", "apgdt", "autoattack") and n_classes < 3:
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
        "autoattack": lambda: ta.AutoAttack(model, eps=eps, n_classes=n_classes, seed=seed, **kwargs),
    }
    try:
        return make[name]()
    except TypeError as e:
        raise SnnlibError(f"torchattacks {name}: {e}") from None


def run_torchattack(name: str, threat: ThreatModel, x: torch.Tensor, y: torch.Tensor, eps: float = PAPER_EPS,
                    n_classes: int = 10, seed: int = 0, **kwargs) -> torch.Tensor:
    """Run a torchattacks attack under a threat model; returns the adversarial input in that space
    (spike space: ``[T,B,...]``). BN mode follows ``threat.bn`` (statistics restored afterwards)."""
    z = threat.inputs(x)
    view = AsImages(threat, z)
    target = threat.model if z.dim() == 4 else view
    atk = torchattack(name, target, eps=eps, n_classes=n_classes, seed=seed, **kwargs)
    if threat.bn == "train":
        atk.set_model_training_mode(model_training=True)
    with bn_mode(threat.model, threat.bn):
        adv = atk(view.to_images(z) if z.dim() != 4 else z, y)
    return adv if z.dim() == 4 else view.from_images(adv).contiguous()


# -------------------------------------------------------------- evaluation


def _batches(ds, batch_size):
    for i in range(0, len(ds), batch_size):
        yield ds.batch(torch.arange(i, min(i + batch_size, len(ds))))


def evaluate(model, ds, eps: float = PAPER_EPS, alpha: float = 0.01, steps: int = 7, space: str = "pixel",
             bn: str = "eval", eps_sweep=None, batch_size: int = 64, device="cpu", seed: int = 3407,
             random_start: bool = True) -> dict:
    """Clean, FGSM and PGD accuracy of ``model`` on ``ds`` (paper Section 4.2, Tables 1-3, Fig. 2).

    ``eps_sweep`` adds FGSM and PGD accuracy at every listed eps (Fig. 2). Returns
    a dict with ``clean_acc``, ``fgsm_acc``, ``pgd_acc``, ``sweep`` (a list of
    ``{eps, fgsm_acc, pgd_acc}``), ``n`` and the per-sample correctness arrays. Attacks are
    crafted with frozen parameters and predictions run under ``inference_mode``
    (:class:`snnlib.fast.FastThreatModel`, the path ``python -m snnlib bench`` times).
    """
    from .fast import FastThreatModel  # same numbers as ThreatModel (tested), less work; fast imports this module

    model = model.to(device).eval()
    threat = FastThreatModel(model, space, bn)
    epsilons = sorted({float(eps), *[float(e) for e in (eps_sweep or [])]})
    gen = torch.Generator().manual_seed(int(seed))
    correct = {"clean": []}
    for e in epsilons:
        correct[f"fgsm@{e}"], correct[f"pgd@{e}"] = [], []
    t0 = time.time()
    for x, y in tqdm(_batches(ds, batch_size), total=-(-len(ds) // batch_size), desc="attacks", disable=None, leave=False):
        x, y = x.to(device), y.to(device)
        correct["clean"].append(threat.predict(threat.inputs(x)) == y)
        for e in epsilons:
            correct[f"fgsm@{e}"].append(threat.predict(FGSM(threat, e)(x, y)) == y)
            pgd = PGD(threat, e, alpha, steps, random_start=random_start, generator=gen)
            correct[f"pgd@{e}"].append(threat.predict(pgd(x, y)) == y)
    per = {k: torch.cat(v).cpu() for k, v in correct.items()}
    acc = {k: v.float().mean().item() for k, v in per.items()}
    return {
        "clean_acc": acc["clean"], "fgsm_acc": acc[f"fgsm@{float(eps)}"], "pgd_acc": acc[f"pgd@{float(eps)}"],
        "sweep": [{"eps": e, "fgsm_acc": acc[f"fgsm@{e}"], "pgd_acc": acc[f"pgd@{e}"]} for e in epsilons],
        "n": len(ds), "attack_time_s": time.time() - t0,
        "per_sample": {k: v.int().tolist() for k, v in per.items()},
    }
