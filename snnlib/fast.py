"""Faster execution of snnlib models: bit-identical forwards, attacks and (by default) training.

``accelerate(model)`` swaps every SpikingJelly ``IFNode`` that has a detached
reset (the SEW-ResNets of the paper) for :class:`FusedIFNode`, in place. The
module keeps its class hierarchy (it is still an ``IFNode``), its state_dict,
its ``reset()`` and its memory ``v``; only the multi-step forward changes.

On CPU, SpikingJelly 2.0 runs a multi-step IF neuron as a Python loop over T
in which each step is a custom autograd function (the surrogate spike) plus
about ten small tensor ops, and the backward walks the same graph step by
step. :class:`_FusedIF` is one autograd function over all T steps:

- forward: per step ``h = v + x[t]``, ``s = h >= V_th`` (for floats the same
  as SpikingJelly's ``h - V_th >= 0``), ``v = V_reset`` where fired (hard
  reset) or ``h - V_th`` (soft reset), writing into preallocated ``[T, ...]``
  tensors; ``h - V_th`` for the backward in one call over all steps;
- backward: the surrogate derivative of all T steps in one vectorised call
  (for ATan the same +, *, 1/x operations as SpikingJelly's, which round the
  same wherever an element sits; other surrogates call SpikingJelly's own
  ``_surrogate_gradient`` step by step), then one fused multiply-add per step
  for the recurrence ``dL/dh[t] = dL/ds[t] * sg[t] + dL/dh[t+1] * (1 - s[t])``.

Every floating-point operation is the one SpikingJelly's reference path
performs (the products by ``1 - s`` in {0, 1} are exact), so spikes, final
membrane potentials and input gradients are bit-identical; ``tests`` and
``python -m snnlib bench`` check this. Neurons with ``detach_reset=False``
(Spiking-ResNet) or an unsupported surrogate keep SpikingJelly's path.

:class:`GemmGradConv2d` (opt-in, ``accelerate(model, gemm_wgrad=True)``) computes the training
backward of convolutions on tiny maps (the last two stages at 32x32 input) as one GEMM per kernel tap, over
only the (pixel, tap) pairs that meet the input: oneDNN's CPU backward falls back to a slow
per-image GEMM there (~1 s for a 512x512 3x3 conv on 1x1 maps at batch 160, against ~20 ms).
Those gradients equal oneDNN's up to summation order (as accurate against a float64 reference),
so a training step gives the same logits and loss and weight gradients equal to float rounding.
Forwards, and input-only gradients (attacks), stay oneDNN's, bit for bit.

:class:`FastThreatModel` is a drop-in :class:`snnlib.attacks.ThreatModel` that crafts with the
parameters frozen (no weight-gradient work) and predicts under ``torch.inference_mode``.
"""

from __future__ import annotations

import contextlib
import math

import torch
from spikingjelly._ops.surrogate import _surrogate_gradient, _surrogate_spec
from spikingjelly.activation_based import layer as sj_layer
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn
from torch.autograd.graph import get_gradient_edge
from torch.nn import functional as F

from .attacks import ThreatModel, bn_mode

__all__ = ["FusedIFNode", "GemmGradConv2d", "accelerate", "decelerate", "fusable", "frozen", "FastThreatModel"]

#: Training gradients of convolutions whose input has at most this many pixels per map are computed
#: by GEMMs instead of oneDNN (whose CPU backward falls back to a slow per-image GEMM there: ~0.25 s
#: for the weight gradient of a 512x512 3x3 conv on 1x1 maps at batch 160, against ~10 ms). On
#: larger maps oneDNN is as fast or faster (measured on an AVX2 EPYC, one thread).
GEMM_MAX_INPUT_PIXELS = 4


def _atan_surrogate_grad(d: torch.Tensor, alpha: float) -> torch.Tensor:
    """SpikingJelly's ATan derivative ``(alpha/2) / (1 + (pi/2 alpha d)^2)``, same float ops, in place on a copy.

    SpikingJelly evaluates ``(alpha/2) / y`` as ``y.reciprocal() * (alpha/2)`` (Tensor.__rtruediv__);
    the final product is skipped when ``alpha/2 == 1`` (exact either way).
    """
    z = d * (math.pi / 2 * alpha)
    z.mul_(z).add_(1).reciprocal_()
    if alpha / 2 != 1:
        z.mul_(alpha / 2)
    return z


class _FusedIF(torch.autograd.Function):
    """Multi-step IF neuron with detached reset: ``x_seq [T,...]``, ``v0 [...]`` -> spikes ``[T,...]``, final v."""

    @staticmethod
    def forward(ctx, x_seq, v0, threshold, reset, alpha, surrogate_id):
        T = x_seq.shape[0]
        h_seq = torch.empty_like(x_seq, memory_format=torch.contiguous_format)
        fired = torch.empty(h_seq.shape, dtype=torch.bool, device=h_seq.device)
        v = v0  # a tensor, or SpikingJelly's float reset value (then no state tensor is materialised)
        for t in range(T):
            h = torch.add(x_seq[t], v, out=h_seq[t])  # h = v[t-1] + x[t]
            f = torch.ge(h, threshold, out=fired[t])  # same as SpikingJelly's (h - V_th >= 0) for every float
            v = h.masked_fill(f, reset) if reset is not None else torch.where(f, h - threshold, h)
        d_seq = h_seq.sub_(threshold)  # h - V_th, the surrogate's argument, for all steps at once
        s_seq = fired.to(x_seq.dtype)
        ctx.save_for_backward(d_seq, s_seq)
        ctx.params = (alpha, surrogate_id, reset is None)
        if not isinstance(v, torch.Tensor):
            v = torch.full_like(x_seq[0], v)
        ctx.mark_non_differentiable(v)
        return s_seq, v

    @staticmethod
    def backward(ctx, g_s, g_v):
        d_seq, s_seq = ctx.saved_tensors
        alpha, surrogate_id, soft = ctx.params
        T = d_seq.shape[0]
        if g_s is None:
            g = torch.zeros_like(d_seq)
        else:  # dL/ds[t] * sg(h[t] - V_th) for all t at once
            if surrogate_id == 1:  # ATan: + * and 1/x only, so vectorising over T changes no bit
                sg = _atan_surrogate_grad(d_seq, alpha)
            else:  # exp/erf-based surrogates round differently in SIMD bodies and tails: go step by step
                sg = torch.stack([_surrogate_gradient(d, alpha, surrogate_id) for d in d_seq])
            g = sg.mul_(g_s) if sg.dtype == g_s.dtype else g_s * sg
        keep = None if soft else torch.sub(1.0, s_seq)  # dv[t]/dh[t] with the reset detached
        # Backwards in time, in place: g[t] += g[t+1] * keep[t] (the product is exact: keep is 0 or 1).
        for t in range(T - 2, -1, -1):
            if soft:
                g[t].add_(g[t + 1])
            else:
                g[t].addcmul_(g[t + 1], keep[t])
        g_v0 = g[0].clone() if ctx.needs_input_grad[1] else None
        return g, g_v0, None, None, None, None


def fusable(m: nn.Module) -> bool:
    """Whether a neuron module can use the fused path with identical results."""
    if type(m) not in (sj_neuron.IFNode, FusedIFNode):
        return False
    if not m.detach_reset or getattr(m, "store_v_seq", False) or getattr(m, "_neuron_precision", None) is not None:
        return False
    if isinstance(m.v_threshold, torch.Tensor) or isinstance(m.v_reset, torch.Tensor):
        return False
    return _surrogate_spec(m.surrogate_function) is not None and getattr(m.surrogate_function, "spiking", True)


class FusedIFNode(sj_neuron.IFNode):
    """SpikingJelly ``IFNode`` (detach_reset=True) whose multi-step forward is :class:`_FusedIF`.

    Single-step mode, inputs off the CPU (GPUs keep SpikingJelly's own backends; the fused path is
    measured on CPU only) and any input that is not a float32/float64 tensor use SpikingJelly's path.
    The final membrane potential it leaves in ``v`` carries no gradient (a loss on it would get
    none, where SpikingJelly's would); spikes carry exactly SpikingJelly's.
    """

    def multi_step_forward(self, x_seq: torch.Tensor, *args, **kwargs):
        if (args or kwargs or x_seq.device.type != "cpu" or x_seq.dtype not in (torch.float32, torch.float64)
                or not fusable(self)):  # GPUs keep SpikingJelly's kernels; the audit may swap in other surrogates
            return super().multi_step_forward(x_seq, *args, **kwargs)
        v = self._memories["v"]
        if not isinstance(v, float):  # a float (the reset value) is added as a scalar: same as a filled tensor
            (v,) = self.materialize_states((x_seq,), tuple(self._memories.values()), "m")[:1]
        surrogate_id, alpha = _surrogate_spec(self.surrogate_function)
        reset = None if self.v_reset is None else float(self.v_reset)
        spikes, v = _FusedIF.apply(x_seq, v, float(self.v_threshold), reset, alpha, surrogate_id)
        self._memories["v"] = v
        self.v_seq = None
        return spikes


def accelerate(model: nn.Module, neurons: bool = True, gemm_wgrad: bool = False) -> nn.Module:
    """Speed up ``model`` in place (same state_dict, same module tree); returns ``model``.

    Args:
        neurons: swap every fusable IF neuron for :class:`FusedIFNode`. Spikes, logits and all
            gradients stay bit-identical.
        gemm_wgrad: swap SpikingJelly ``Conv2d`` layers for :class:`GemmGradConv2d`. Forwards and
            input-only gradients stay bit-identical (so attacks are unchanged); in training, weight
            gradients change by float rounding only. Helps training on CPU, nothing else.
    """
    for m in model.modules():
        if neurons and type(m) is sj_neuron.IFNode and fusable(m):
            m.__class__ = FusedIFNode
        if gemm_wgrad and type(m) is sj_layer.Conv2d:
            m.__class__ = GemmGradConv2d
    return model


def decelerate(model: nn.Module) -> nn.Module:
    """Undo :func:`accelerate` in place (back to SpikingJelly's classes)."""
    back = {FusedIFNode: sj_neuron.IFNode, GemmGradConv2d: sj_layer.Conv2d}
    for m in model.modules():
        if type(m) in back:
            m.__class__ = back[type(m)]
    return model


def _tap_ranges(n_in, n_out, k, stride, padding, dilation):
    """Along one axis, for each kernel tap: (output slice, input slice) of the pixels it joins, or None."""
    out = []
    for i in range(k):
        off = i * dilation - padding  # input index = output index * stride + off
        lo = max(0, (stride - 1 - off) // stride)  # first output o with o * stride + off >= 0
        hi = min(n_out, (n_in - 1 - off) // stride + 1)  # one past the last with o * stride + off < n_in
        out.append((slice(lo, hi), slice(lo * stride + off, (hi - 1) * stride + off + 1, stride)) if hi > lo else None)
    return out


def _taps(x_shape, go_shape, w_shape, stride, padding, dilation):
    rows = _tap_ranges(x_shape[-2], go_shape[-2], w_shape[-2], stride[0], padding[0], dilation[0])
    cols = _tap_ranges(x_shape[-1], go_shape[-1], w_shape[-1], stride[1], padding[1], dilation[1])
    return [(i, j, r, c) for i, r in enumerate(rows) for j, c in enumerate(cols)]


def _wgrad_gemm(x, go, w, stride, padding, dilation):
    """dL/dW of a groups=1 conv2d on tiny maps: per kernel tap, one GEMM over the (batch x pixel) pairs it
    joins. Taps that only ever see padding get exact zeros (on 1x1 maps, all but one)."""
    gw = torch.empty_like(w)
    for i, j, r, c in _taps(x.shape, go.shape, w.shape, stride, padding, dilation):
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
    for i, j, r, c in _taps(x_shape, go.shape, w.shape, stride, padding, dilation):
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
                    go, x, w, None, stride, padding, dilation, False, [0, 0], 1, [True, False, False])[0]
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
        if (x.device.type == "cpu" and torch.is_grad_enabled() and weight.requires_grad and self.groups == 1
                and self.padding_mode == "zeros"
                and isinstance(self.padding, tuple) and x.dim() == 4 and x.dtype == weight.dtype
                and not torch.is_autocast_enabled(x.device.type)):
            if x.shape[-2] * x.shape[-1] <= GEMM_MAX_INPUT_PIXELS:
                node = get_gradient_edge(weight).node
                return _GemmGradConv.apply(x, weight, bias, list(self.stride), list(self.padding), list(self.dilation),
                                           node)
        return super()._conv_forward(x, weight, bias)


@contextlib.contextmanager
def frozen(model: nn.Module):
    """Parameters stop requiring grad inside the block (restored after): no weight-gradient work, no graph for it."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, rg in flags:
            p.requires_grad_(rg)


class FastThreatModel(ThreatModel):
    """Drop-in :class:`ThreatModel` that crafts with frozen parameters and predicts under ``inference_mode``.

    Same numbers as :class:`ThreatModel` (``tests`` and the benchmark check it bit for bit). Frozen
    parameters keep the autograd graph free of weight edges, so no backward can do weight-gradient
    work, whatever the convolution modules are.
    """

    def grad(self, z, y, loss_fn=None):
        with frozen(self.model):
            return super().grad(z, y, loss_fn)

    def eval_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Logits in BN eval mode, without autograd bookkeeping."""
        with torch.inference_mode(), bn_mode(self.model, "eval"):
            return self.logits(z)

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return self.eval_logits(z).argmax(1)
