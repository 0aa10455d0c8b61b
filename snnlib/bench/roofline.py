"""A roofline for the benchmark: useful FLOPs and neuron bytes against measured peak speeds."""

from __future__ import annotations

import time

import torch
from spikingjelly.activation_based import functional, neuron
from torch import nn

from ..attacks import bn_mode
from ..kernels import tap_pairs
from .measure import sync


def work(net, spikes):
    """Useful convolution/linear FLOPs of one forward (taps that only meet zero padding not counted), the
    stem's share of them, and neuron elements (``[T,B,...]`` sizes summed)."""
    flops, elems, hooks = [0.0, 0.0], [0], []

    def conv_hook(m, i, o):
        if isinstance(m, nn.Linear):
            flops[0] += 2.0 * o.numel() * m.in_features
            return
        x, y = i[0].flatten(0, -4), o.flatten(0, -4)  # [N, C, H, W]
        pairs = sum(
            (r[0].stop - r[0].start) * (c[0].stop - c[0].start)
            for _, _, r, c in tap_pairs(x.shape, y.shape, m.weight.shape, m.stride, m.padding, m.dilation)
            if r is not None and c is not None
        )  # (output pixel, tap) pairs that meet the input
        f = 2.0 * x.shape[0] * m.out_channels * (m.in_channels // m.groups) * pairs
        flops[0] += f
        if m.in_channels == spikes.shape[2]:
            flops[1] += f  # the stem conv: no input gradient while training

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, neuron.BaseNode):
            hooks.append(m.register_forward_hook(lambda m, i, o: elems.__setitem__(0, elems[0] + o.numel())))
    with torch.no_grad(), bn_mode(net, "eval"):
        functional.reset_net(net)
        net(spikes)
        functional.reset_net(net)
    for h in hooks:
        h.remove()
    return flops[0], flops[1], elems[0]


def _best_time(fn, device, repeats=5):
    ts = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        ts.append(time.perf_counter() - t)
    return min(ts)


def peaks(device, small=False):
    """Measured peak matmul FLOP/s (fp32 and, on CUDA, bf16) and copy bandwidth (bytes/s)."""
    n = 256 if small else 4096 if device.type == "cuda" else 1024
    out = {}
    for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        if name == "bf16" and device.type != "cuda":
            continue
        a = torch.randn(n, n, device=device, dtype=dt)
        out[f"matmul_{name}_flops"] = 2 * n**3 / _best_time(lambda a=a: a @ a, device)
    x = torch.empty(2**18 if small else 2**25 if device.type == "cuda" else 2**24, device=device)
    y = torch.empty_like(x)
    out["copy_bytes_per_s"] = 2 * x.numel() * 4 / _best_time(lambda: y.copy_(x), device)
    return out


def roofline(wk, pk, batch, bf16=False, steps=7):
    """Lower bounds in ms per image: useful conv FLOPs at peak matmul speed plus neuron bytes at copy bandwidth.

    Train step: forward + weight gradients + input gradients (none for the stem). Neurons move 12 bytes
    per element forward (read x, write spike, keep h) and 12 backward. Evaluation: three gradient-free
    forwards (8 bytes per neuron element) and 1 + ``steps`` attack steps (forward + input gradient).
    """
    fwd, stem, elems = wk
    f = pk["matmul_bf16_flops" if bf16 and "matmul_bf16_flops" in pk else "matmul_fp32_flops"]
    bw = pk["copy_bytes_per_s"]
    train = (3 * fwd - stem) / f + 24 * elems / bw
    evaluation = 3 * (fwd / f + 8 * elems / bw) + (1 + steps) * (2 * fwd / f + 24 * elems / bw)
    return {"train": 1e3 * train / batch, "eval": 1e3 * evaluation / batch}
