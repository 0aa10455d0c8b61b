"""What the benchmark runs: the authors' pipeline and snnlib's path (with its ablation), on shared weights.

Both sides run SEW-ResNet-18 (IF neurons, ATan surrogate, detached reset, ADD connections) on the
same weights and the same input batch. Before every run the weights, BN buffers and RNG are
reset, so every variant starts from the same state.
"""

from __future__ import annotations

import contextlib

import torch
from spikingjelly.activation_based import functional
from torch import nn

from .. import authors, kernels
from ..attacks import AUTHORS_EPS, FGSM, PGD, FastThreatModel, ThreatModel
from ..encoding import PhaseEncoder
from ..models import SpikingClassifier, build_model
from ..train import train_step
from . import levers
from .measure import NUM_CLASSES

SEED = 3407
PGD_ALPHA, PGD_STEPS = authors.PGD_ALPHA, authors.PGD_STEPS

#: name -> (fused IF neurons, GEMM weight gradients, FastThreatModel); "authors" is the baseline and the
#: last entry snnlib's full path. On CUDA, SpikingJelly's own fused neuron kernels and cuDNN are used,
#: so only the threat-model change remains (plus the --extra variants).
VARIANTS = {
    "cpu": {
        "train": {
            "authors": None,
            "snnlib without snnlib.kernels": (False, False, False),
            "+ fused IF neurons": (True, False, False),
            "+ GEMM grads on tiny maps": (True, True, False),
        },
        "eval": {
            "authors": None,
            "snnlib without snnlib.kernels": (False, False, False),
            "+ fused IF neurons": (True, False, False),
            "+ frozen params, inference_mode": (True, True, True),
        },
    },
    "cuda": {
        "train": {"authors": None, "snnlib: library path": (False, False, False)},
        "eval": {
            "authors": None,
            "snnlib: library path": (False, False, False),
            "+ frozen params, inference_mode": (False, False, True),
        },
    },
}
EXTRAS = {"bf16": "+ bf16 autocast", "compile": "+ torch.compile"}
LEVERS = levers.LEVERS


class _FoldedThreat(FastThreatModel):
    """The frozen-parameter threat model whose predictions come from a BN-folded copy of the network."""

    folded: nn.Module | None = None

    def eval_logits(self, z):
        with torch.inference_mode():
            return self.folded(z) if self.space == "pixel" else self.folded.forward_spikes(z)


def snnlib_variant(device_type: str, kind: str) -> str:
    """Name of snnlib's full path for a device type and workload (``train`` or ``eval``)."""
    return list(VARIANTS[device_type][kind])[-1]


def snnlib_eval(threat, x, y, eps, seed, alpha=PGD_ALPHA, steps=PGD_STEPS):
    """What :func:`snnlib.evaluation.evaluate_model` does for one batch, keeping logits and adversarial inputs."""
    clean = threat.eval_logits(threat.inputs(x))
    fgsm = FGSM(threat, eps)(x, y)
    pgd = PGD(threat, eps, alpha, steps, random_start=True, generator=torch.Generator().manual_seed(seed))(x, y)
    return {
        "clean": clean,
        "fgsm_adv": fgsm,
        "pgd_adv": pgd,
        "fgsm": threat.eval_logits(fgsm),
        "pgd": threat.eval_logits(pgd),
    }


def configure(net, neurons: bool, gemm: bool):
    kernels.decelerate(net)
    kernels.accelerate(net, neurons=neurons, gemm_wgrad=gemm)


class Bench:
    """The shared model, encoders and optimisers; :meth:`run` runs one variant of one workload."""

    def __init__(self, width, T, device, seed=SEED, extras=(), steps=PGD_STEPS):
        self.device, self.T, self.seed, self.extras = torch.device(device), T, seed, tuple(extras)
        self.steps = steps
        torch.manual_seed(seed)
        self.net = build_model("sew_resnet18", NUM_CLASSES, pool="max", width=width).to(self.device)
        self.authors_model = authors.AuthorsModel(self.net)
        self.clf = SpikingClassifier(self.net, PhaseEncoder(T=T)).to(self.device)
        self.authors_encoder = authors.AuthorsEncoder(T=T)
        self.loss_fn = nn.CrossEntropyLoss()
        self.eps = AUTHORS_EPS
        self.optimizers = {}
        self.compiled = None

    def calibrate_bn(self, pixels):
        """BN running statistics from the benchmark batch (cumulative average), so eval mode is not degenerate."""
        moms = {m: m.momentum for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        for m in moms:
            m.momentum = None
        with torch.no_grad():
            self.clf.train()
            self.clf(pixels.float() / 255)
        for m, mom in moms.items():
            m.momentum = mom
        self.snapshot = {k: v.clone() for k, v in self.net.state_dict().items()}

    def restore(self):
        self.net.load_state_dict(self.snapshot)
        self.net.zero_grad(set_to_none=True)
        functional.reset_net(self.net)
        self.authors_encoder.reset()

    def optimizer(self, key):
        if key not in self.optimizers:  # the authors' and snnlib's recipe: Adam, lr 1e-3, weight decay 1e-3
            self.optimizers[key] = torch.optim.Adam(
                self.net.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-3
            )
        return self.optimizers[key]

    def _authors(self, kind, pixels, y):
        configure(self.net, False, False)
        if kind == "train":
            return authors.train_step(
                self.authors_model,
                self.authors_encoder,
                self.optimizer((kind, len(y), "authors")),
                self.loss_fn,
                pixels.float(),
                y,
            )
        torch.manual_seed(self.seed)  # the authors' PGD draws its start from the global generator
        return authors.eval_step(
            self.authors_model, self.authors_encoder, self.loss_fn, pixels.float(), y, self.eps, steps=self.steps
        )

    def _classifier(self, extra):
        if extra != "+ torch.compile":
            return self.clf
        if self.compiled is None:
            self.compiled = SpikingClassifier(torch.compile(self.net), self.clf.encoder)
        return self.compiled

    def run(self, kind, variant, pixels, y):
        """One run of ``variant`` (``authors``, an ablation step, a lever or an extra) on a batch; returns its
        outputs."""
        self.restore()
        if variant == "authors":
            return self._authors(kind, pixels, y)
        table = VARIANTS[self.device.type][kind]
        spec, extra = table.get(variant), None
        if spec is None:  # a lever or an extra on top of snnlib's path
            spec, extra = table[snnlib_variant(self.device.type, kind)], variant
        neurons, gemm, fast_threat = spec
        configure(self.net, neurons, gemm)
        lever = levers.lever(extra, self.net) if extra in LEVERS.get(kind, {}) else contextlib.nullcontext()
        with lever:
            return self._snnlib(kind, variant, extra, fast_threat, pixels.float() / 255, y)

    def _snnlib(self, kind, variant, extra, fast_threat, x, y):
        clf = self._classifier(extra)
        autocast = (
            (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if extra == "+ bf16 autocast" else None
        )
        if kind == "train":
            return train_step(clf, self.optimizer((kind, len(y), variant)), x, y, autocast)
        if extra == levers.BN_FOLDED:
            threat = _FoldedThreat(clf, "spike", "train")
            threat.folded = SpikingClassifier(levers.fold_bn(self.net), clf.encoder).eval()
        else:
            threat = (FastThreatModel if fast_threat else ThreatModel)(clf, "spike", "train")
        with autocast() if autocast else contextlib.nullcontext():
            return snnlib_eval(threat, x, y, self.eps, self.seed, steps=self.steps)

    def params(self):
        return [p.detach().clone() for p in self.net.parameters()]

    def grads(self):
        return [None if p.grad is None else p.grad.detach().clone() for p in self.net.parameters()]

    def undrift(self, res):
        """The authors' predictions used BN statistics their crafting moved; predict again without that drift.
        Returns how many predictions the drift had changed."""
        drifted = {a: res[a].argmax(1) for a in ("fgsm", "pgd")}
        self.restore()
        self.authors_model.eval()
        with torch.no_grad():
            for a in ("fgsm", "pgd"):
                res[a] = self.authors_model(res[f"{a}_adv"])
                functional.reset_net(self.net)
        return {a: int((drifted[a] != res[a].argmax(1)).sum()) for a in drifted}
