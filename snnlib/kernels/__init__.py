"""Faster execution of snnlib models, with results identical to SpikingJelly's.

``accelerate(model)`` swaps, in place, every SpikingJelly ``IFNode`` with a detached reset for
:class:`~snnlib.kernels.neuron.FusedIFNode` (bit-identical spikes and gradients) and, with
``gemm_wgrad=True``, every ``Conv2d`` for :class:`~snnlib.kernels.conv.GemmGradConv2d` (training
gradients on tiny maps by GEMMs: equal up to float rounding; forwards and attack gradients
bit-identical). With ``stem_once=True`` the stem convolution becomes
:class:`~snnlib.kernels.stem.StemOnceConv2d`: it convolves the K distinct bit-planes of a phase-coded input
once instead of all T time steps (the same outputs bit for bit; falls back to every step when the planes do
not repeat or the input needs a gradient). Modules keep their class hierarchy, state_dict and ``reset()``.

``flush_denormals()`` treats denormal floats as zero on the CPU inside a block (the audit runs its attacks
so): trained models whose dead BatchNorm scales decayed to denormals run about twice as fast.
"""

from __future__ import annotations

import contextlib

import torch
from spikingjelly.activation_based import layer as sj_layer
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn

from .conv import GEMM_MAX_INPUT_PIXELS, GemmGradConv2d, tap_pairs
from .neuron import FusedIFNode, fusable
from .stem import StemOnceConv2d, planes_repeat, stem_of

__all__ = [
    "GEMM_MAX_INPUT_PIXELS",
    "FusedIFNode",
    "GemmGradConv2d",
    "StemOnceConv2d",
    "accelerate",
    "decelerate",
    "flush_denormals",
    "fusable",
    "planes_repeat",
    "stem_of",
    "tap_pairs",
]


def accelerate(
    model: nn.Module, neurons: bool = True, gemm_wgrad: bool = False, stem_once: bool = False, period: int = 8
) -> nn.Module:
    """Speed up ``model`` in place (same state_dict, same module tree); returns ``model``.

    Args:
        neurons: swap every fusable IF neuron for :class:`FusedIFNode`. Spikes, logits and all
            gradients stay bit-identical.
        gemm_wgrad: swap SpikingJelly ``Conv2d`` layers for :class:`GemmGradConv2d`. Forwards and
            input-only gradients stay bit-identical (so attacks are unchanged); in training, weight
            gradients change by float rounding only. Helps training on CPU, nothing else.
        stem_once: swap the stem convolution (``conv1`` of a SpikingJelly ResNet) for :class:`StemOnceConv2d`,
            which convolves a phase-coded input's ``period`` distinct bit-planes once (T/K of the stem's work).
            Forwards and input gradients stay bit-identical; in training its weight gradient changes by
            float rounding only.
        period: the phase code's K (bits per pixel), the cycle ``stem_once`` looks for.
    """
    stem = stem_of(model) if stem_once else None
    if stem is not None and type(stem) in (sj_layer.Conv2d, GemmGradConv2d):
        stem.__class__, stem.period = StemOnceConv2d, int(period)
    for m in model.modules():
        if neurons and type(m) is sj_neuron.IFNode and fusable(m):
            m.__class__ = FusedIFNode
        if gemm_wgrad and type(m) is sj_layer.Conv2d:
            m.__class__ = GemmGradConv2d
    return model


def decelerate(model: nn.Module) -> nn.Module:
    """Undo :func:`accelerate` in place (back to SpikingJelly's classes)."""
    back = {FusedIFNode: sj_neuron.IFNode, GemmGradConv2d: sj_layer.Conv2d, StemOnceConv2d: sj_layer.Conv2d}
    for m in model.modules():
        if type(m) in back:
            m.__class__ = back[type(m)]
    return model


def _flushing() -> bool:
    """Whether the CPU now treats denormals as zero (torch has no getter for the flag)."""
    return torch.tensor([1e-40]).mul(1.0).item() == 0.0


@contextlib.contextmanager
def flush_denormals(on: bool = True):
    """Inside the block, denormal floats count as zero on the CPU (``torch.set_flush_denormal``); the flag is
    restored after it.

    Weight decay drives the BatchNorm scales of channels that get no gradient towards zero, into the denormal
    range (|gamma| down to 1e-41 in the medium SEW-ResNet-18), and every arithmetic operation on a denormal takes
    tens of cycles. Flushing them runs that model's forward and backward about twice as fast; its logits and
    input gradients stay bit-identical (tests/test_kernels.py), because a denormal term vanishes in any sum with a
    normal number. A gradient made *only* of denormals would become zero, so what counts exact zeros (the
    sparsity probes, the audit's zero-gradient check) runs without it.
    """
    before = _flushing()
    torch.set_flush_denormal(bool(on))
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
