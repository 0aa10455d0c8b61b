"""Denormal BatchNorm scales in trained models, and what flushing them to zero does to speed and results.

Weight decay keeps shrinking the scale of a BatchNorm channel that gets no gradient, into the denormal range
(below 1.2e-38 in float32). A CPU computes with denormals in microcode, tens of times slower per operation, so
a trained model runs slower than a fresh one. :func:`snnlib.kernels.flush_denormals` treats them as zero.
"""

from __future__ import annotations

import time

import torch
from torch.nn import functional as F

from ..kernels import flush_denormals

TINY = torch.finfo(torch.float32).tiny  # the smallest normal float32


def denormal_scales(model: torch.nn.Module) -> dict:
    """How many BatchNorm scales of ``model`` are denormal (non-zero, below the smallest normal float32)."""
    w = [
        m.weight.detach().abs().flatten()
        for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.weight is not None
    ]
    w = torch.cat(w) if w else torch.zeros(0)
    return {"bn_scales": int(w.numel()), "denormal": int(((w > 0) & (w < TINY)).sum())}


def _attack_step(model, x, y):
    """One attack step's work: forward, loss, input gradient."""
    xx = x.clone().requires_grad_(True)
    z = model(xx)
    F.cross_entropy(z, y).backward()
    return z.detach(), xx.grad


def denormal_effect(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int = 3) -> dict:
    """Time an attack step (forward + input gradient) of ``model`` on ``x, y`` with denormals kept and flushed;
    say whether the logits and the input gradients are bit-identical, and how many BN scales are denormal."""
    out, secs = {}, {}
    for flush in (False, True):
        with flush_denormals(flush):
            out[flush] = _attack_step(model, x, y)  # warm-up, and the values compared
            t = time.perf_counter()
            for _ in range(repeats):
                _attack_step(model, x, y)
            secs[flush] = (time.perf_counter() - t) / repeats
    return {
        **denormal_scales(model),
        "batch": len(y),
        "kept_s": secs[False],
        "flushed_s": secs[True],
        "speedup": secs[False] / secs[True],
        "logits_identical": torch.equal(out[False][0], out[True][0]),
        "gradients_identical": torch.equal(out[False][1], out[True][1]),
    }
