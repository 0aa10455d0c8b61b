"""Gradient estimators swapped in at attack time only (the trained weights and the forward pass stay):
other surrogates in every IF neuron, a rate-based gradient in the spirit of RGA (Bu et al. 2023), and
the phase encoder's true (zero) gradient instead of its straight-through one.
"""

from __future__ import annotations

import contextlib

import torch
from spikingjelly.activation_based import surrogate

from ..errors import SnnlibError, check_choice
from ..models import spiking_neurons

#: Surrogates swapped into every IF neuron at attack time (the trained weights stay).
SURROGATES = {
    "atan-0.5": lambda: surrogate.ATan(alpha=0.5),
    "atan-2": lambda: surrogate.ATan(alpha=2.0),  # the training surrogate (paper Eq. 4)
    "atan-8": lambda: surrogate.ATan(alpha=8.0),
    "sigmoid-4": lambda: surrogate.Sigmoid(alpha=4.0),
    "rect-1": lambda: surrogate.Rect(alpha=1.0),
}
ESTIMATORS = (*SURROGATES, "rga", "encoder-none")
ESTIMATOR_LABELS = {
    "atan-0.5": "ATan (alpha 0.5)", "atan-2": "ATan (alpha 2, training)", "atan-8": "ATan (alpha 8)",
    "sigmoid-4": "sigmoid (alpha 4)", "rect-1": "rectangular / STE window (alpha 1)",
    "rga": "rate gradient (RGA-style)", "encoder-none": "encoder's true gradient (zero)",
}


@contextlib.contextmanager
def swap_surrogate(model: torch.nn.Module, make):
    """Give every spiking neuron the surrogate ``make()`` (or a named one of :data:`SURROGATES`);
    the original surrogate objects are put back on exit, also after an error."""
    if isinstance(make, str):
        check_choice("surrogate", make, tuple(SURROGATES))
        make = SURROGATES[make]
    neurons = spiking_neurons(model)
    saved = [(m, m.surrogate_function) for _, m in neurons]
    try:
        for m, _ in saved:
            m.surrogate_function = make()
        yield model
    finally:
        for m, sg in saved:
            m.surrogate_function = sg


class _RateGrad(torch.autograd.Function):
    """Forward: the neuron's spikes. Backward: the rate model's derivative (RGA-style)."""

    @staticmethod
    def forward(ctx, x_seq, spikes, theta):
        xbar = x_seq.mean(0, keepdim=True)
        ctx.save_for_backward(((xbar > 0) & (xbar < theta)).to(x_seq.dtype))
        ctx.theta = theta
        return spikes.detach().clone()

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask / ctx.theta, None, None


@contextlib.contextmanager
def rate_gradient(model: torch.nn.Module):
    """Replace each IF layer's backward by the derivative of its firing rate (after Bu et al. 2023, RGA).

    An IF neuron with threshold theta driven by an input of mean ``xbar`` (over
    the T steps) fires at a rate of about ``clip(xbar / theta, 0, 1)``. Here the
    gradient reaching the input at step t is the output gradient at step t
    times ``d rate / d xbar = 1/theta`` where ``0 < xbar < theta``, else 0 -- the
    per-step form of Bu et al.'s rate-gradient approximation for IF neurons with
    unit leak. The forward pass (the spikes) is unchanged. This is an
    approximation of RGA, not their code: their LIF case and layer-wise details
    are not reproduced.
    """
    handles = []
    try:
        for _, m in spiking_neurons(model):
            if getattr(m, "step_mode", "m") != "m":
                raise SnnlibError("rate_gradient needs multi-step neurons (step_mode='m')")
            theta = float(m.v_threshold)
            handles.append(m.register_forward_hook(
                lambda mod, args, out, theta=theta: _RateGrad.apply(args[0], out, theta)))
        yield model
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def encoder_grad(model: torch.nn.Module, grad: str):
    """Set the encoder's backward (``"ste"`` or ``"none"``) for a block; restored on exit."""
    enc = getattr(model, "encoder", None)
    if enc is None or not hasattr(enc, "grad"):
        raise SnnlibError("encoder_grad needs a phase or rate encoder (with a 'grad' setting)")
    check_choice("encoder grad", grad, ("ste", "none"))
    old = enc.grad
    enc.grad = grad
    try:
        yield model
    finally:
        enc.grad = old


def estimator(model: torch.nn.Module, name: str):
    """Context manager that makes ``model``'s backward one of :data:`ESTIMATORS` (attack time only)."""
    check_choice("gradient estimator", name, ESTIMATORS)
    if name in SURROGATES:
        return swap_surrogate(model, name)
    if name == "rga":
        return rate_gradient(model)
    return encoder_grad(model, "none")
