"""The stem convolution computed once per distinct bit-plane of a phase-coded input.

Phase coding repeats its K bit-planes cyclically over T time steps (``s[t] = s[t - K]``): with the
paper's T = 10, K = 8, steps 9 and 10 are planes 1 and 2 again. A convolution treats every time step
as its own image, so :class:`StemOnceConv2d` convolves only the first K planes and copies the result
back to T steps: the same numbers per step, bit for bit (each image's output does not depend on the
other images of the batch), for K/T of the convolution's work plus the copy. The stem is a few per cent of
a SEW-ResNet-18 step, so this is an opt-in (``accelerate(stem_once=True)``): the benchmark's lever row found
no gain beyond the spread.

It checks at run time that the planes do repeat (``torch.equal(x[K:], x[:T-K])``, a few microseconds) and
falls back to the full convolution when they do not (spike-space attacks perturb each step on its own) and
whenever the input itself needs a gradient (attacks): there the gradient of each step must stay its own.
In training the weight gradient then sums the repeated steps' output gradients before the convolution's
backward instead of after it: equal up to float rounding, as the GEMM weight gradients.
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import layer as sj_layer

__all__ = ["PERIOD", "StemOnceConv2d", "planes_repeat", "stem_of"]

#: the phase code's period K (bits per pixel) that the stem looks for, unless the module says otherwise
PERIOD = 8


def planes_repeat(x: torch.Tensor, period: int) -> bool:
    """Whether a ``[T, ...]`` input repeats its first ``period`` steps (``x[t] == x[t - period]`` for t >= period)."""
    T = x.shape[0]
    return 0 < period < T and torch.equal(x[period:], x[: T - period])


class _Cycle(torch.autograd.Function):
    """``y [K, ...]`` -> ``[T, ...]`` with step t = ``y[t mod K]``; the backward adds the repeats' gradients."""

    @staticmethod
    def forward(ctx, y, T):
        K = y.shape[0]
        ctx.K = K
        out = y.new_empty((T, *y.shape[1:]))
        for lo in range(0, T, K):
            out[lo : lo + K] = y[: min(K, T - lo)]
        return out

    @staticmethod
    def backward(ctx, g):
        K, T = ctx.K, g.shape[0]
        gy = g[:K].clone()
        for lo in range(K, T, K):
            gy[: min(K, T - lo)] += g[lo : lo + K]
        return gy, None


class StemOnceConv2d(sj_layer.Conv2d):
    """SpikingJelly multi-step ``Conv2d`` that convolves a cyclically repeated input's distinct steps only.

    Attribute ``period`` (default :data:`PERIOD`): the cycle length looked for. Same state_dict and
    forward as ``Conv2d``; every other input (single-step mode, non-repeating planes, inputs that
    need a gradient) goes through ``Conv2d`` unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        period = getattr(self, "period", PERIOD)
        if (
            self.step_mode == "m"
            and x.dim() == 5
            and not (x.requires_grad and torch.is_grad_enabled())
            and planes_repeat(x, period)
        ):
            return _Cycle.apply(super().forward(x[:period]), x.shape[0])
        return super().forward(x)


def stem_of(model: torch.nn.Module):
    """The first convolution of a SpikingJelly ResNet (``conv1``; also inside a ``SpikingClassifier``), or None."""
    net = getattr(model, "net", model)
    stem = getattr(net, "conv1", None)
    return stem if isinstance(stem, sj_layer.Conv2d) else None
