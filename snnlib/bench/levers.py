"""Speed levers measured on top of snnlib's path and not (or not yet) part of it.

Each lever is a row of the full benchmark's ablation at the paper's batch: snnlib's path with one change,
timed in the same interleaved repetitions and checked against a reference row (the authors' pipeline,
or for the denormal rows the same model with denormals kept). :data:`LEVERS` lists them per workload;
:func:`lever` is the change, as a context manager around one run.

- ``stem once per bit-plane``: :class:`snnlib.kernels.StemOnceConv2d` (exact forward).
- ``channels_last``: the convolution weights (and so oneDNN's activations and BatchNorm) in NHWC.
- ``BN folded``: the predictions of the evaluation by a copy of the network with every eval-mode BatchNorm
  folded into the convolution before it (another rounding of every forward).
- ``denormal BN scales``: half of every BatchNorm's scales set to 1e-41, as weight decay leaves dead channels
  of a trained model; ``+ flush denormals`` runs the same model with denormals flushed to zero.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from ..kernels import flush_denormals, stem_of
from ..kernels.stem import StemOnceConv2d

STEM = "lever: stem once per bit-plane"
CHANNELS_LAST = "lever: channels_last"
BN_FOLDED = "lever: BN folded (predictions)"
DENORMAL = "lever: denormal BN scales"
FLUSHED = "lever: denormal BN scales, flushed"
#: per workload: lever row -> the row it is checked against and its gain is measured from (None: no check)
LEVERS = {
    "train": {STEM: "authors", CHANNELS_LAST: "authors", DENORMAL: None, FLUSHED: DENORMAL},
    "eval": {STEM: "authors", BN_FOLDED: "authors", DENORMAL: None, FLUSHED: DENORMAL},
}
DENORMAL_SCALE = 1e-41
#: what became of each lever, and why (the numbers: ``python -m snnlib bench``, book chapter Benchmarks)
DECISIONS = {
    STEM: "opt-in (accelerate(stem_once=True)), not default: exact, but the stem is a few % of a step and the copy "
    "back to T steps eats most of the saving: no gain beyond the spread",
    CHANNELS_LAST: "dropped: a little faster at width 64, but BatchNorm reduces in another order in NHWC, spikes flip "
    "and logits and gradients move; NHWC inside the convolutions only is exact and gains nothing",
    BN_FOLDED: "dropped: no gain under the authors' threat model (it crafts with BN in train mode), and another "
    "rounding of every forward: a spike can flip (one prediction of 64 test images at width 64)",
    DENORMAL: "on this CPU, denormal BN scales alone cost nothing measurable",
    FLUSHED: "the same numbers; stays a setting (train.flush_denormals, the audit's attacks) for trained models",
}


def _bns(net):
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None]


def denormalise(net: nn.Module, scale: float = DENORMAL_SCALE) -> int:
    """Set the first half of every BatchNorm's scales to a denormal ``scale``; returns how many were set."""
    n = 0
    with torch.no_grad():
        for bn in _bns(net):
            k = bn.num_features // 2
            bn.weight[:k] = scale
            n += k
    return n


def _conv_bn_pairs(net):
    """(parent, conv name, bn name) of every convolution followed by its BatchNorm in a SpikingJelly ResNet."""
    pairs = [(net, "conv1", "bn1")] if hasattr(net, "bn1") else []
    for m in net.modules():
        if m is not net and hasattr(m, "conv1") and hasattr(m, "bn1"):
            pairs += [(m, f"conv{i}", f"bn{i}") for i in (1, 2, 3) if hasattr(m, f"bn{i}")]
        ds = getattr(m, "downsample", None)
        if isinstance(ds, nn.Sequential) and len(ds) == 2:
            pairs.append((ds, "0", "1"))
    return pairs


def fold_bn(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with every eval-mode BatchNorm folded into the convolution before it.

    ``conv(x) * s + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)`` is the same function as
    eval-mode BN after the convolution; its forward rounds differently, so logits agree to float rounding
    only, and a spike near its threshold can flip.
    """
    net = copy.deepcopy(net)
    for parent, c, b in _conv_bn_pairs(net):
        conv, bn = getattr(parent, c), getattr(parent, b)
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        with torch.no_grad():
            conv.weight.mul_(s.view(-1, *[1] * (conv.weight.dim() - 1)))
            bias = bn.bias - bn.running_mean * s + (0 if conv.bias is None else conv.bias * s)
        conv.bias = nn.Parameter(bias.detach(), requires_grad=False)
        setattr(parent, b, nn.Identity())
    return net


@contextlib.contextmanager
def _channels_last(net):
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    for m in convs:
        m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)
    try:
        yield
    finally:
        for m in convs:
            m.weight.data = m.weight.data.contiguous()


@contextlib.contextmanager
def _stem_once(net):
    stem = stem_of(net)
    before = type(stem)
    stem.__class__ = StemOnceConv2d
    try:
        yield
    finally:
        stem.__class__ = before


@contextlib.contextmanager
def lever(name: str, net: nn.Module):
    """The change of lever row ``name`` to ``net`` around one run (weights are restored before every run)."""
    if name == STEM:
        with _stem_once(net):
            yield
    elif name == CHANNELS_LAST:
        with _channels_last(net):
            yield
    elif name in (DENORMAL, FLUSHED):
        denormalise(net)
        with flush_denormals(name == FLUSHED):
            yield
    else:  # BN folded: the evaluation swaps its predicting classifier (see variants.Bench)
        yield
