"""Gradient estimators for SNN attacks, swapped in at attack time only (weights and forward pass unchanged).

Each is a context manager over a model (a :class:`~snnlib.models.SpikingClassifier`):

- :func:`swap_surrogate`: another surrogate in every spiking neuron (ATan with another alpha, sigmoid,
  rectangular);
- :func:`rate_gradient`: RGA, the rate gradient approximation (Bu et al. 2023): for IF neurons the
  gradient reaching the input at step t is the output gradient at step t times ``1 / (2 V_th)``
  wherever the mean input over the T steps lies in ``[0, 2 V_th]``, else 0;
- :func:`bptr`: BPTR, backward pass through rate (Ding et al. 2022, SNN-RAT): the output gradient at
  step t passes straight to the input at step t wherever the neuron fired at least once;
- :func:`adaptive_surrogate`: ASSG (Wang et al. 2025): ATan whose sharpness is set per neuron and
  time step from the membrane statistics of the attack's own forward passes;
- :func:`encoder_grad`: the phase encoder's backward (straight-through, omega-weighted, expected-flip,
  or the true zero gradient; :mod:`snnlib.encoding`).

The surrogate swaps apply to the spiking neurons of SpikingJelly, snnTorch and Norse alike (through the
adapters of :mod:`snnlib.neurons`); RGA, BPTR and ASSG are written for SpikingJelly's multi-step IF neurons.
An estimator that does not apply (a model without spiking neurons, such as the ANN twin; RGA on snnTorch
neurons) raises :class:`~snnlib.errors.NotApplicable` with a message that says why.
"""

from __future__ import annotations

import contextlib
import math
import types

import torch
from spikingjelly.activation_based import surrogate

from .. import neurons
from ..errors import NotApplicable, SnnlibError, check_choice
from ..models import require_spiking, spiking_neurons

#: Surrogates swapped into every IF neuron at attack time (the trained weights stay).
SURROGATES = {
    "atan-0.5": lambda: surrogate.ATan(alpha=0.5),
    "atan-2": lambda: surrogate.ATan(alpha=2.0),  # the training surrogate (paper Eq. 4)
    "atan-8": lambda: surrogate.ATan(alpha=8.0),
    "sigmoid-4": lambda: surrogate.Sigmoid(alpha=4.0),
    "rect-1": lambda: surrogate.Rect(alpha=1.0),
}
ESTIMATORS = (*SURROGATES, "rga", "bptr", "encoder-omega", "encoder-flip", "encoder-none")
ESTIMATOR_LABELS = {
    "atan-0.5": "ATan (alpha 0.5)",
    "atan-2": "ATan (alpha 2, training)",
    "atan-8": "ATan (alpha 8)",
    "sigmoid-4": "sigmoid (alpha 4)",
    "rect-1": "rectangular / STE window (alpha 1)",
    "rga": "rate gradient (RGA, Bu et al. 2023)",
    "bptr": "backward pass through rate (BPTR, Ding et al. 2022)",
    "encoder-omega": "encoder: omega-weighted straight-through",
    "encoder-flip": "encoder: expected-flip (smoothed quantiser)",
    "encoder-none": "encoder's true gradient (zero)",
}


neurons_of = require_spiking


@contextlib.contextmanager
def swap_surrogate(model: torch.nn.Module, make):
    """Give every spiking neuron, of any library (:func:`snnlib.neurons.swap_surrogate`), the surrogate ``make()``
    (or a named one of :data:`SURROGATES`); the originals are put back on exit, also after an error."""
    if isinstance(make, str):
        check_choice("surrogate", make, tuple(SURROGATES))
        make = SURROGATES[make]
    with contextlib.ExitStack() as stack:
        for m in neurons_of(model, "a surrogate swap"):
            stack.enter_context(neurons.swap_surrogate(m, make()))
        yield model


class _RateGrad(torch.autograd.Function):
    """Forward: the neuron's spikes. Backward: ``g * mask`` with a per-element mask computed in forward."""

    @staticmethod
    def forward(ctx, x_seq, spikes, mask):
        ctx.save_for_backward(mask)
        return spikes.detach().clone()

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None


def _rga_mask(x_seq, spikes, theta):
    xbar = x_seq.mean(0, keepdim=True)
    return ((xbar >= 0) & (xbar <= 2 * theta)).to(x_seq.dtype) / (2 * theta)


def _bptr_mask(x_seq, spikes, theta):
    return (spikes.detach().sum(0, keepdim=True) > 0).to(x_seq.dtype)


@contextlib.contextmanager
def _rate_backward(model: torch.nn.Module, mask_fn, what: str):
    handles = []
    try:
        for m in neurons_of(model, what, if_only=True):
            theta = float(m.v_threshold)
            handles.append(
                m.register_forward_hook(
                    lambda mod, args, out, theta=theta: _RateGrad.apply(args[0], out, mask_fn(args[0], out, theta))
                )
            )
        yield model
    finally:
        for h in handles:
            h.remove()


def rate_gradient(model: torch.nn.Module):
    """RGA for IF neurons (Bu et al. 2023): the backward of each IF layer becomes the derivative of a linear
    fit of its firing rate, ``d r / d xbar = 1 / (2 V_th)`` on ``0 <= xbar <= 2 V_th`` (xbar: the input's
    mean over the T steps), broadcast to every step. The forward pass (the spikes) is unchanged."""
    return _rate_backward(model, _rga_mask, "RGA")


def bptr(model: torch.nn.Module):
    """BPTR (Ding et al. 2022): the output gradient at step t passes unchanged to the input at step t of every
    neuron that fired at least once in the window (no recurrence, no surrogate); silent neurons pass none."""
    return _rate_backward(model, _bptr_mask, "BPTR")


@contextlib.contextmanager
def encoder_grad(model: torch.nn.Module, grad: str, width: float | None = None):
    """Set the encoder's backward (``ste``, ``omega``, ``flip`` or ``none``) for a block; restored on exit."""
    enc = getattr(model, "encoder", None)
    if enc is None or not hasattr(enc, "grad"):
        raise NotApplicable("an encoder backward needs a phase or rate encoder; this model has none")
    check_choice("encoder grad", grad, ("ste", "none", "omega", "flip"))
    if grad in ("omega", "flip") and not hasattr(enc, "flip_width"):
        raise NotApplicable(f"the {grad!r} backward is defined for phase coding only")
    old, old_w = enc.grad, getattr(enc, "flip_width", None)
    enc.grad = grad
    if width is not None and old_w is not None:
        enc.flip_width = float(width)
    try:
        yield model
    finally:
        enc.grad = old
        if old_w is not None:
            enc.flip_width = old_w


# ------------------------------------------------------------------ ASSG (Wang et al. 2025)


class _AdaptiveSpike(torch.autograd.Function):
    """Heaviside forward (``d >= 0``); backward ``(a/2) / (1 + (pi/2 a d)^2)`` with a per-element sharpness ``a``."""

    @staticmethod
    def forward(ctx, d, a):
        ctx.save_for_backward(d, a)
        return (d >= 0).to(d.dtype)

    @staticmethod
    def backward(ctx, g):
        d, a = ctx.saved_tensors
        return g * (a / 2) / (1 + (math.pi / 2 * a * d) ** 2), None


def omega_of(A: float) -> float:
    """ASSG's sharpness scale from the tolerated vanishing degree A (< 0.5): omega = 2 tan(pi A) / pi."""
    if not 0 < A < 0.5:
        raise SnnlibError(f"ASSG's A must lie in (0, 0.5), got {A}")
    return 2 * math.tan(math.pi * A) / math.pi


def _assg_forward(self, x_seq: torch.Tensor):
    """The multi-step IF recurrence with ASSG's spike function; statistics are updated on gradient forwards."""
    st, T = self._assg, x_seq.shape[0]
    v = torch.full_like(x_seq[0], float(self.v_reset) if self.v_reset is not None else 0.0)
    out = []
    for t in range(T):
        h = v + x_seq[t]
        d = h - self.v_threshold
        key = (t, tuple(d.shape))
        M, D = st["M"].get(key), st["D"].get(key)
        if M is None:
            M, D = torch.ones_like(d), torch.zeros_like(d)
        if torch.is_grad_enabled():
            a_abs = d.detach().abs()
            M = st["b1"] * M + (1 - st["b1"]) * a_abs
            D = st["b2"] * D + (1 - st["b2"]) * (a_abs - M).abs()
            st["M"][key], st["D"][key] = M, D
        s = _AdaptiveSpike.apply(d, st["omega"] / (M + st["relax"] * D + 1e-4))
        sr = s.detach() if self.detach_reset else s
        v = h * (1 - sr) + float(self.v_reset) * sr if self.v_reset is not None else h - sr * self.v_threshold
        out.append(s)
    self.v = v.detach()
    return torch.stack(out)


@contextlib.contextmanager
def adaptive_surrogate(model: torch.nn.Module, A: float = 0.425, relax: float = 1.5, betas=(0.9, 0.9)):
    """ASSG (Wang et al. 2025) in every IF neuron: ATan with sharpness ``omega / (M + relax D + 1e-4)`` per
    element and time step, where M and D are moving averages (over the attack's gradient forwards) of
    ``|u - V_th|`` and of its absolute deviation. Call :func:`reset_adaptive` to start new statistics
    (every attack run does). Multi-step IF neurons only."""
    omega = omega_of(A)
    found = neurons_of(model, "the adaptive surrogate (ASSG)", if_only=True)
    for m in found:
        m._assg = {"omega": omega, "relax": relax, "b1": betas[0], "b2": betas[1], "M": {}, "D": {}}
        m.multi_step_forward = types.MethodType(_assg_forward, m)
    try:
        yield model
    finally:
        for m in found:
            del m.multi_step_forward, m._assg


def reset_adaptive(model: torch.nn.Module) -> None:
    """Forget ASSG's membrane statistics (a new attack run or batch)."""
    for _, m in spiking_neurons(model):
        if hasattr(m, "_assg"):
            m._assg["M"].clear(), m._assg["D"].clear()


def estimator(model: torch.nn.Module, name: str):
    """Context manager that makes ``model``'s backward one of :data:`ESTIMATORS` (attack time only)."""
    check_choice("gradient estimator", name, ESTIMATORS)
    if name in SURROGATES:
        return swap_surrogate(model, name)
    if name == "rga":
        return rate_gradient(model)
    if name == "bptr":
        return bptr(model)
    return encoder_grad(model, name.split("-", 1)[1])
