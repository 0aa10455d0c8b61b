"""Convolutions whose training backward on tiny maps is one GEMM per kernel tap (CPU).

oneDNN's CPU backward falls back to a slow per-image GEMM for convolutions on tiny maps (the last
two stages of a ResNet at 32x32 input). :class:`GemmGradConv2d` computes the weight and input
gradients there as one GEMM per kernel tap, over only the (pixel, tap) pairs that meet the
input. They equal oneDNN's up to summation order (as accurate against a float64 reference), so a
training step gives the same logits and loss and weight gradients equal to float rounding.
Forwards, and input-only gradients (attacks), stay oneDNN's, bit for bit.
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import layer as sj_layer
from torch.autograd.graph import get_gradient_edge
from torch.nn import functional as F

__all__ = ["GemmGradConv2d", "GEMM_MAX_INPUT_PIXELS", "tap_pairs"]

#: Training gradients of convolutions whose input has at most this many pixels per map use GEMMs instead
#: of oneDNN; on larger maps oneDNN is as fast or faster (``python -m snnlib bench`` measures the effect).
GEMM_MAX_INPUT_PIXELS = 4


def _tap_ranges(n_in, n_out, k, stride, padding, dilation):
    """Along one axis, for each kernel tap: (output slice, input slice) of the pixels it joins, or None."""
    out = []
    for i in range(k):
        off = i * dilation - padding  # input index = output index * stride + off
        lo = max(0, (stride - 1 - off) // stride)  # first output o with o * stride + off >= 0
        hi = min(n_out, (n_in - 1 - off) // stride + 1)  # one past the last with o * stride + off < n_in
        out.append((slice(lo, hi), slice(lo * stride + off, (hi - 1) * stride + off + 1, stride)) if hi > lo else None)
    return out


def tap_pairs(x_shape, go_shape, w_shape, stride, padding, dilation):
    """Per kernel tap (i, j): the (output, input) row and column slices it joins, or None where it meets only padding."""
    rows = _tap_ranges(x_shape[-2], go_shape[-2], w_shape[-2], stride[0], padding[0], dilation[0])
    cols = _tap_ranges(x_shape[-1], go_shape[-1], w_shape[-1], stride[1], padding[1], dilation[1])
    return [(i, j, r, c) for i, r in enumerate(rows) for j, c in enumerate(cols)]


def _wgrad_gemm(x, go, w, stride, padding, dilation):
    """dL/dW of a groups=1 conv2d on tiny maps: per kernel tap, one GEMM over the (batch x pixel) pairs it
    joins. Taps that only ever see padding get exact zeros (on 1x1 maps, all but one)."""
    gw = torch.empty_like(w)
    for i, j, r, c in tap_pairs(x.shape, go.shape, w.shape, stride, padding, dilation):
        if r is None or c is None:
            gw[:, :, i, j] = 0
            continue
        g = go[:, :, r[0], c[0]].transpose(0, 1).reshape(go.shape[1], -1)  # [Cout, N*P]
        xx = x[:, :, r[1], c[1]].transpose(0, 1).reshape(x.shape[1], -1)  # [Cin, N*P]
        gw[:, :, i, j] = g @ xx.t()
    return gw


def _igrad_gemm(go, w, x_shape, stride, padding, dilation):
    """dL/dx of a groups=1 conv2d on tiny maps: per kernel tap, one GEMM, added into the pixels it reaches."""
    gx = go.new_zeros(x_shape)
    n, c_in = x_shape[0], x_shape[1]
    for i, j, r, c in tap_pairs(x_shape, go.shape, w.shape, stride, padding, dilation):
        if r is None or c is None:
            continue
        g = go[:, :, r[0], c[0]]  # [N, Cout, ph, pw]
        ph, pw = g.shape[-2:]
        part = g.permute(0, 2, 3, 1).reshape(-1, g.shape[1]) @ w[:, :, i, j]  # [N*ph*pw, Cin]
        gx[:, :, r[1], c[1]] += part.view(n, ph, pw, c_in).permute(0, 3, 1, 2)
    return gx


def _weight_grad_wanted(node) -> bool:
    """Whether the running backward will accumulate into this weight (False for autograd.grad w.r.t. inputs)."""
    try:
        return bool(torch._C._will_engine_execute_node(node))
    except (AttributeError, RuntimeError):  # unknown (e.g. autograd.grad w.r.t. leaves): assume training
        return True


class _GemmGradConv(torch.autograd.Function):
    """conv2d whose forward is PyTorch's own (bit-identical).

    Backward when the weight gradient is wanted (training): weight and input gradients by one GEMM
    per kernel tap (equal to oneDNN's up to summation order). For input-only gradients (attacks,
    ``autograd.grad`` w.r.t. the input): oneDNN's input gradient, bit-identical, and no
    weight-gradient work.
    """

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, w_node):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, b is not None, w_node)
        return F.conv2d(x, w, b, stride, padding, dilation)

    @staticmethod
    def backward(ctx, go):
        x, w = ctx.saved_tensors
        stride, padding, dilation, has_b, w_node = ctx.conf
        training = ctx.needs_input_grad[1] and _weight_grad_wanted(w_node)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            if training:
                gx = _igrad_gemm(go, w, x.shape, stride, padding, dilation)
            else:
                gx = torch.ops.aten.convolution_backward(
                    go, x, w, None, stride, padding, dilation, False, [0, 0], 1, [True, False, False]
                )[0]
        if training:
            gw = _wgrad_gemm(x, go, w, stride, padding, dilation)
        if has_b and ctx.needs_input_grad[2]:
            gb = go.sum((0, 2, 3))
        return gx, gw, gb, None, None, None, None


class GemmGradConv2d(sj_layer.Conv2d):
    """SpikingJelly ``Conv2d`` whose training backward is GEMM-based when the maps are tiny (CPU only).

    The forward is unchanged (bit-identical). When the weight gradient is wanted, weight and input
    gradients are GEMMs, equal to oneDNN's up to float rounding (another summation order).
    Input-only gradients (attacks) stay oneDNN's, bit-identical.
    """

    def _conv_forward(self, x, weight, bias):
        if (
            x.device.type == "cpu"
            and torch.is_grad_enabled()
            and weight.requires_grad
            and self.groups == 1
            and self.padding_mode == "zeros"
            and isinstance(self.padding, tuple)
            and x.dim() == 4
            and x.dtype == weight.dtype
            and not torch.is_autocast_enabled(x.device.type)
        ):
            if x.shape[-2] * x.shape[-1] <= GEMM_MAX_INPUT_PIXELS:
                node = get_gradient_edge(weight).node
                return _GemmGradConv.apply(
                    x, weight, bias, list(self.stride), list(self.padding), list(self.dilation), node
                )
        return super()._conv_forward(x, weight, bias)
