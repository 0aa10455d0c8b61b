"""Gradient probes: per-op gradient sparsity and norms (Figs. 3 and 5), input-gradient
statistics, and the vulnerability ratio rho_adv / rho_rand of Theorem 4.1 (Eqs. 20-28).

All functions return tidy pandas DataFrames and print nothing.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

import pandas as pd
import torch
import torch.nn.functional as F
from spikingjelly.activation_based.model import sew_resnet, spiking_resnet
from spikingjelly.activation_based.neuron import BaseNode

from .attacks import ThreatModel, bn_mode, project
from .data import batches
from .errors import SnnlibError, check_choice

TARGETS = ("loss", "logit")


def op_kind(module: torch.nn.Module) -> str | None:
    """The op kind a module is reported as in Figs. 3/5, or None if it is not probed."""
    if isinstance(module, BaseNode):
        return "IF neuron"
    if isinstance(module, (torch.nn.Conv2d,)):
        return "conv"
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        return "BN"
    if isinstance(module, (torch.nn.MaxPool2d, torch.nn.AvgPool2d, torch.nn.AdaptiveAvgPool2d)):
        return "pooling"
    if isinstance(module, torch.nn.Linear):
        return "linear"
    if isinstance(module, torch.nn.ReLU):
        return "ReLU"
    return None


_SEW_BLOCKS = (sew_resnet.BasicBlock, sew_resnet.Bottleneck)
_SPIKING_BLOCKS = (spiking_resnet.BasicBlock, spiking_resnet.Bottleneck)


def _per_sample(g: torch.Tensor, batch_dim: int) -> torch.Tensor:
    return g.transpose(0, batch_dim).flatten(1) if batch_dim else g.flatten(1)


class _Recorder:
    """Accumulates, per probed tensor, zero counts and per-sample l2 norms of its gradient."""

    def __init__(self):
        self.stats = defaultdict(lambda: {"zeros": 0, "numel": 0, "norm_sum": 0.0, "n": 0, "per_sample": 0})
        self.meta = {}

    def hook(self, key, batch_dim):
        def fn(g):
            s = self.stats[key]
            gs = _per_sample(g.detach(), batch_dim)
            s["zeros"] += int((gs == 0).sum())
            s["numel"] += gs.numel()
            s["norm_sum"] += gs.float().norm(dim=1).sum().item()
            s["n"] += gs.shape[0]
            s["per_sample"] = gs.shape[1]
            if g.dim() >= batch_dim + 3:  # a map with channels: which channels got any nonzero gradient so far
                live = g.detach().ne(0).movedim(batch_dim + 1, 0).flatten(1).any(1)
                s["live"] = live if "live" not in s else s["live"] | live

        return fn

    def watch(self, key, tensor, batch_dim, **meta):
        if isinstance(tensor, torch.Tensor) and tensor.requires_grad:
            self.meta.setdefault(key, {"order": len(self.meta), **meta})
            tensor.register_hook(self.hook(key, batch_dim))


@contextlib.contextmanager
def _hooks(model, rec: _Recorder):
    net = getattr(model, "net", model)
    handles = []
    try:
        for name, m in net.named_modules():
            kind = op_kind(m)
            if kind is not None:
                handles.append(
                    m.register_forward_hook(
                        lambda mod, inp, out, name=name, kind=kind: rec.watch(
                            name, inp[0], 1, module=name, op=kind, module_type=type(mod).__name__
                        )
                    )
                )
            if isinstance(m, _SEW_BLOCKS):
                handles.append(
                    m.register_forward_hook(
                        lambda mod, inp, out, name=name: rec.watch(
                            f"{name}.add",
                            out,
                            1,
                            module=f"{name} (+)",
                            op="residual add",
                            module_type="sew_function ADD",
                        )
                    )
                )
            elif isinstance(m, _SPIKING_BLOCKS):
                last = m.sn3 if hasattr(m, "sn3") else m.sn2
                handles.append(
                    last.register_forward_hook(
                        lambda mod, inp, out, name=name: rec.watch(
                            f"{name}.add",
                            inp[0],
                            1,
                            module=f"{name} (+)",
                            op="residual add",
                            module_type="out += identity",
                        )
                    )
                )
        yield
    finally:
        for h in handles:
            h.remove()


def _objective(logits, y, target):
    if target == "loss":
        return F.cross_entropy(logits.float(), y, reduction="sum")
    return logits.float().gather(1, y[:, None]).sum()


def gradient_sparsity(
    model,
    data,
    y=None,
    space: str = "pixel",
    bn: str = "eval",
    target: str = "loss",
    batch_size: int = 64,
    device="cpu",
) -> pd.DataFrame:
    """Per-op sparsity and norm of the gradient w.r.t. each op's input (paper Figs. 3 and 5).

    ``data`` is a batch ``x`` (with labels ``y``) or an :class:`~snnlib.data.ImageSet`;
    statistics are pooled over all of it. The gradient is of the summed
    cross-entropy (``target="loss"``, as during the attacks) or of the true-class
    logit f_y (``target="logit"``, as in Theorem 4.1). Columns: ``order``,
    ``module``, ``op``, ``module_type``, ``zero_frac`` (fraction of exactly-zero
    entries), ``dead_frac`` (share of channels whose gradient is zero on every image: dead channels, a
    source of zeros that has nothing to do with spikes; None for tensors without channels), ``grad_l2`` (mean per-sample l2 norm: sparse is not the same as
    shattered or vanished, Athalye et al. 2018), ``numel`` (entries per
    sample), ``n``. The first row, ``input``, is the gradient w.r.t. the pixels
    (``space="pixel"``, through the encoder's backward) or the spikes.
    """
    check_choice("probe target", target, TARGETS)
    data = (data, y) if y is not None else data
    threat = ThreatModel(model, space, bn)
    rec = _Recorder()
    model = model.to(device)
    with bn_mode(model, bn), _hooks(model, rec):
        for xb, yb in batches(data, batch_size):
            xb, yb = xb.to(device), yb.to(device)
            z = threat.inputs(xb).requires_grad_(True)
            rec.watch(
                "input",
                z,
                1 if space == "spike" else 0,
                module="input",
                op="input",
                module_type="pixels" if space == "pixel" else "spikes",
            )
            obj = _objective(threat.logits(z), yb, target)
            torch.autograd.grad(obj, z)
    if not rec.stats:
        raise SnnlibError("no gradient reached any probed op; is the encoder's grad 'none'?")
    return _sparsity_frame(rec)


def _sparsity_frame(rec) -> pd.DataFrame:
    """One row per probed op from a recorder's pooled statistics (an op that got no gradient: all zeros)."""
    rows = []
    for key, meta in rec.meta.items():
        s = rec.stats.get(key)
        if s is None or s["n"] == 0:  # op got no gradient at all (e.g. encoder grad="none")
            rows.append({**meta, "zero_frac": 1.0, "grad_l2": 0.0, "numel": None, "n": 0})
            continue
        dead = 1.0 - s["live"].float().mean().item() if "live" in s else None
        rows.append(
            {
                **meta,
                "zero_frac": s["zeros"] / s["numel"],
                "grad_l2": s["norm_sum"] / s["n"],
                "numel": s["per_sample"],
                "n": s["n"],
                "dead_frac": dead,
            }
        )
    return pd.DataFrame(rows).sort_values("order").reset_index(drop=True)


def input_gradients(model, x, y, space: str = "pixel", bn: str = "eval", target: str = "logit") -> torch.Tensor:
    """Per-sample input gradient of f_y (``target="logit"``) or of the loss: shape of the attacked input."""
    check_choice("probe target", target, TARGETS)
    threat = ThreatModel(model, space, bn)
    with bn_mode(model, bn):
        z = threat.inputs(x).requires_grad_(True)
        (g,) = torch.autograd.grad(_objective(threat.logits(z), y, target), z)
    return g.transpose(0, 1) if space == "spike" else g


def gradient_stats(g: torch.Tensor) -> pd.DataFrame:
    """Per-sample ||g||_0, density, ||g||_1, ||g||_2 and the first-order ratio 3||g||_1^2/||g||_2^2 (Eq. 28)."""
    g = g.flatten(1).double()
    l0 = (g != 0).sum(1)
    l1, l2 = g.abs().sum(1), g.norm(dim=1)
    ratio = torch.where(l2 > 0, 3 * l1**2 / l2.clamp_min(1e-300) ** 2, torch.full_like(l1, float("nan")))
    return pd.DataFrame(
        {
            "l0": l0.numpy(),
            "density": (l0 / g.shape[1]).numpy(),
            "l1": l1.numpy(),
            "l2": l2.numpy(),
            "first_order_ratio": ratio.numpy(),
            "numel": g.shape[1],
        }
    )


def input_gradient_stats(model, x, y, space: str = "pixel", bn: str = "eval", target: str = "logit") -> pd.DataFrame:
    """Per-sample statistics of the input gradient (paper Section 4.3.1, Theorem 4.1)."""
    return gradient_stats(input_gradients(model, x, y, space, bn, target))


@torch.no_grad()
def _fy(model, x, y):
    return model(x).float().gather(1, y[:, None]).squeeze(1)


def vulnerability_ratio(
    model,
    x,
    y,
    eps: float = 8 / 255,
    n_random: int = 64,
    ascent_steps: int = 10,
    generator: torch.Generator | None = None,
) -> pd.DataFrame:
    """Empirical rho_adv / rho_rand of Theorem 4.1 (Eqs. 20-21) in pixel space, per sample.

    rho_rand = E_delta (f_y(x + eps delta) - f_y(x))^2 with delta ~ U(-1, 1)^m
    (``n_random`` Monte-Carlo samples). rho_adv is the largest squared change
    found: over the random samples, x +/- eps sign(grad f_y) (the first-order
    maximiser of Eq. 27), and ``ascent_steps`` of signed ascent on the squared
    change from the better of the two. Perturbed images are clamped to [0, 1].
    The sup is estimated from below, so the ratio is a lower estimate.
    Columns: ``rho_rand``, ``rho_adv``, ``ratio``, ``l0`` (of grad f_y),
    ``bound_low`` (3), ``bound_high`` (3 ||grad f_y||_0), ``first_order_ratio``.
    """
    model.eval()
    f0 = _fy(model, x, y)
    sq = torch.zeros(n_random, len(y), dtype=torch.float64)
    for i in range(n_random):
        d = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device) * 2 - 1
        sq[i] = (_fy(model, torch.clamp(x + eps * d, 0, 1), y) - f0).double() ** 2
    rho_rand = sq.mean(0)
    best = sq.max(0).values
    g = input_gradients(model, x, y, target="logit")
    cand = cand_v = None
    for sgn in (1, -1):
        xc = torch.clamp(x + sgn * eps * g.sign(), 0, 1)
        v = (_fy(model, xc, y) - f0).double() ** 2
        cand = xc if cand is None else torch.where((v > cand_v).view(-1, *[1] * (x.dim() - 1)), xc, cand)
        cand_v = v if cand_v is None else torch.maximum(v, cand_v)
    best = torch.maximum(best, cand_v)
    z = cand
    for _ in range(ascent_steps):
        z = z.detach().requires_grad_(True)
        diff = model(z).float().gather(1, y[:, None]).squeeze(1) - f0
        (gz,) = torch.autograd.grad((diff**2).sum(), z)
        z = project(z + eps / 4 * gz.sign(), x, eps)
        best = torch.maximum(best, (_fy(model, z, y) - f0).double() ** 2)
    stats = gradient_stats(g)
    ratio = torch.where(rho_rand > 0, best / rho_rand.clamp_min(1e-300), torch.full_like(best, float("nan")))
    return pd.DataFrame(
        {
            "rho_rand": rho_rand.numpy(),
            "rho_adv": best.numpy(),
            "ratio": ratio.numpy(),
            "l0": stats["l0"],
            "bound_low": 3.0,
            "bound_high": 3.0 * stats["l0"],
            "first_order_ratio": stats["first_order_ratio"],
        }
    )


def weight_gradient_sparsity(model, x, y, bn: str = "train") -> pd.DataFrame:
    """The sparsity Theorems 4.3-4.4 are about, per convolution: the zero fraction of its weight gradient
    ``dL/dW``, of ``input ⊙ dL/d input`` (a weight-gradient term is non-zero only where both the input spike and
    the gradient reaching it are), and of ``dL/d input`` alone. One batch, BN in ``bn`` mode (training: train)."""
    net = getattr(model, "net", model)
    convs = [(n, m) for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    seen = {}

    def keep(name):
        def fn(mod, inp, out):
            if inp[0].requires_grad:
                inp[0].retain_grad()
            seen[name] = inp[0]

        return fn

    handles = [m.register_forward_hook(keep(n)) for n, m in convs]
    try:
        with bn_mode(model, bn):
            model.zero_grad(set_to_none=True)
            xx = x.detach().clone().requires_grad_(True)
            F.cross_entropy(model(xx).float(), y).backward()
    finally:
        for h in handles:
            h.remove()
    rows = []
    for i, (n, m) in enumerate(convs):
        inp = seen.get(n)
        gi = None if inp is None else inp.grad
        rows.append(
            {
                "order": i,
                "module": n,
                "weight_grad_zero": float((m.weight.grad == 0).float().mean()),
                "input_grad_zero": float((gi == 0).float().mean()) if gi is not None else float("nan"),
                "grad_x_input_zero": float(((gi * inp.detach()) == 0).float().mean())
                if gi is not None
                else float("nan"),
                "input_zero": float((inp.detach() == 0).float().mean()) if inp is not None else float("nan"),
            }
        )
    model.zero_grad(set_to_none=True)
    return pd.DataFrame(rows)


def collapsed_bn_scales(model, tol: float = 1e-20) -> pd.DataFrame:
    """Per BatchNorm layer: how many channels have a scale |gamma| below ``tol``. Weight decay can drive a channel's
    gamma to a denormal; the layer's input gradient (gamma / sigma times the output's) is then exactly zero there, a
    source of 'gradient sparsity' that has nothing to do with spikes (Section 4's probes count such zeros too)."""
    rows = [
        {
            "module": n.removeprefix("net."),
            "channels": m.weight.numel(),
            "collapsed": int((m.weight.detach().abs() < tol).sum()),
        }
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine
    ]
    df = pd.DataFrame(rows, columns=["module", "channels", "collapsed"])
    return df.assign(frac=df.collapsed / df.channels.clip(lower=1))
