"""The IF neuron of the paper (Eq. 32, hard reset, ATan surrogate of Eq. 4) fused over all T steps.

On CPU, SpikingJelly 2.0 runs a multi-step IF neuron as a Python loop over T in which each step
is a custom autograd function (the surrogate spike) plus about ten small tensor ops, and the
backward walks the same graph step by step. :class:`_FusedIF` is one autograd function over all
T steps:

- forward: per step ``h = v + x[t]``, ``s = h >= V_th`` (for floats the same as SpikingJelly's
  ``h - V_th >= 0``), ``v = V_reset`` where fired (hard reset) or ``h - V_th`` (soft reset),
  writing into preallocated ``[T, ...]`` tensors; ``h - V_th`` for the backward in one call;
- backward: the surrogate derivative of all T steps in one vectorised call (for ATan the same
  +, *, 1/x operations as SpikingJelly's, which round the same wherever an element sits; other
  surrogates call SpikingJelly's own ``_surrogate_gradient`` step by step), then one fused
  multiply-add per step for ``dL/dh[t] = dL/ds[t] * sg[t] + dL/dh[t+1] * (1 - s[t])``.

Every floating-point operation is the one SpikingJelly's reference path performs (the products
by ``1 - s`` in {0, 1} are exact), so spikes, final membrane potentials and input gradients are
bit-identical. Neurons with an attached reset (``detach_reset=False``, Spiking-ResNet) use the
compiled loops with SpikingJelly's reference formulas for the reset's gradient (ATan surrogates);
other surrogates there, and unsupported settings anywhere, keep SpikingJelly's path.
"""

from __future__ import annotations

import math
import os

import torch
from spikingjelly._ops.surrogate import _surrogate_gradient, _surrogate_spec
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn

try:  # one compiled loop per neuron call instead of ~50 small tensor ops (same float operations)
    import numba
except ImportError:  # pragma: no cover - the torch loop below is the fallback
    numba = None
else:  # a second OpenMP runtime beside torch's would spin its own workers: numba's blocking thread pool instead
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"

__all__ = ["FusedIFNode", "fusable", "HAVE_NUMBA"]
HAVE_NUMBA = numba is not None
_BLOCK = 2048  # elements per work item of the compiled loops


def _nb_forward(x, v0, thr, reset, soft, keep_h, d_out, s_out, v_out):  # pragma: no cover - compiled by numba below
    T, n = x.shape
    for b in numba.prange((n + _BLOCK - 1) // _BLOCK):
        lo, hi = b * _BLOCK, min(n, (b + 1) * _BLOCK)
        v = v0[lo:hi].copy()
        for t in range(T):
            for k in range(hi - lo):
                h = x[t, lo + k] + v[k]  # h = x[t] + v[t-1], as torch.add(x_seq[t], v)
                fired = h >= thr
                d_out[t, lo + k] = h if keep_h else h - thr  # the charged voltage, or the surrogate's argument
                s_out[t, lo + k] = 1.0 if fired else 0.0  # exact in either float type
                v[k] = (h - thr if soft else reset) if fired else h
        v_out[lo:hi] = v


def _nb_backward(g_s, d, s, c, half_alpha, one, scale, soft, g_out):  # pragma: no cover - compiled by numba below
    T, n = d.shape
    for b in numba.prange((n + _BLOCK - 1) // _BLOCK):
        lo, hi = b * _BLOCK, min(n, (b + 1) * _BLOCK)
        for t in range(T - 1, -1, -1):
            for k in range(hi - lo):
                i = lo + k
                z = d[t, i] * c  # SpikingJelly's ATan derivative, op for op: 1 / (1 + (c d)^2) [* alpha/2]
                z = one / (z * z + one)
                if scale:
                    z = z * half_alpha
                g = z * g_s[t, i]
                if t < T - 1:
                    g = g + g_out[t + 1, i] * (one if soft else one - s[t, i])
                g_out[t, i] = g


def _nb_backward_reset(g_s, hq, s, thr, reset, c, half_alpha, one, scale, soft, g_out):  # pragma: no cover - compiled
    """Backward with the reset *not* detached (Spiking-ResNet), in the order autograd evaluates SpikingJelly's
    ``spike * V_reset + (1 - spike) * h`` (hard) or ``h - spike * V_th`` (soft): with ``gv = dL/dh[t+1]``, the spike
    gets ``(gs - gv h) + gv V_reset`` (hard) or ``gs + (-gv) V_th`` (soft), then ``h`` gets ``gv (1 - s)`` (hard) or
    ``gv`` (soft) plus the spike's gradient times the surrogate. The last step's voltage carries no gradient."""
    T, n = hq.shape
    for b in numba.prange((n + _BLOCK - 1) // _BLOCK):
        lo, hi = b * _BLOCK, min(n, (b + 1) * _BLOCK)
        for t in range(T - 1, -1, -1):
            for k in range(hi - lo):
                i = lo + k
                h = hq[t, i]
                z = (h - thr) * c
                z = one / (z * z + one)
                if scale:
                    z = z * half_alpha
                if t == T - 1:
                    g_out[t, i] = g_s[t, i] * z
                    continue
                gv = g_out[t + 1, i]
                if soft:
                    g_out[t, i] = gv + (g_s[t, i] + (-gv) * thr) * z
                else:
                    g_out[t, i] = gv * (one - s[t, i]) + ((g_s[t, i] - gv * h) + gv * reset) * z


_KERNELS = {}


def _kernel(name: str, parallel: bool):
    """The numba build of ``_nb_forward``/``_nb_backward``: serial for one thread, parallel otherwise."""
    key = (name, parallel)
    if key not in _KERNELS:
        fn = {"forward": _nb_forward, "backward": _nb_backward, "backward_reset": _nb_backward_reset}[name]
        _KERNELS[key] = numba.njit(parallel=parallel, cache=not parallel, nogil=True)(fn)
    return _KERNELS[key]


def _compiled(x):
    """Whether the compiled loops can take this tensor (CPU float32/float64, numba present)."""
    return HAVE_NUMBA and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def _with_threads(name, *args):
    threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if threads > 1:
        numba.set_num_threads(threads)
    _kernel(name, threads > 1)(*args)


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
    """Multi-step IF neuron: ``x_seq [T,...]``, ``v0 [...]`` -> spikes ``[T,...]``, final v. The reset is detached
    (SEW-ResNet) on every path; an attached reset (Spiking-ResNet) needs the compiled loops and ATan."""

    @staticmethod
    def forward(ctx, x_seq, v0, threshold, reset, alpha, surrogate_id, detach=True):
        if _compiled(x_seq):
            return _FusedIF._forward_compiled(ctx, x_seq, v0, threshold, reset, alpha, surrogate_id, detach)
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
        ctx.params = (alpha, surrogate_id, reset is None, True, threshold, reset)
        if not isinstance(v, torch.Tensor):
            v = torch.full_like(x_seq[0], v)
        ctx.mark_non_differentiable(v)
        return s_seq, v

    @staticmethod
    def _forward_compiled(ctx, x_seq, v0, threshold, reset, alpha, surrogate_id, detach):
        x = x_seq.contiguous()
        flat = x.view(x.shape[0], -1)
        v0t = v0.reshape(-1).contiguous() if isinstance(v0, torch.Tensor) else torch.full_like(flat[0], v0)
        d_seq, s_seq, v = torch.empty_like(x), torch.empty_like(x), torch.empty_like(flat[0])
        np_t = flat.numpy().dtype.type
        _with_threads(
            "forward",
            flat.numpy(),
            v0t.to(x.dtype).numpy(),
            np_t(threshold),
            np_t(0.0 if reset is None else reset),
            reset is None,
            not detach,
            d_seq.view_as(flat).numpy(),
            s_seq.view_as(flat).numpy(),
            v.numpy(),
        )
        ctx.save_for_backward(d_seq, s_seq)  # with the reset not detached, d_seq holds the charged voltage h
        ctx.params = (alpha, surrogate_id, reset is None, detach, threshold, reset)
        v = v.view(x.shape[1:])
        ctx.mark_non_differentiable(v)
        return s_seq, v

    @staticmethod
    def _backward_compiled(d_seq, s_seq, g_s, alpha, soft):
        g = torch.empty_like(d_seq)
        np_t = d_seq.numpy().dtype.type
        flat = lambda t: t.contiguous().view(t.shape[0], -1).numpy()  # noqa: E731
        _with_threads(
            "backward",
            flat(g_s),
            flat(d_seq),
            flat(s_seq),
            np_t(math.pi / 2 * alpha),
            np_t(alpha / 2),
            np_t(1),
            alpha / 2 != 1,
            soft,
            g.view(g.shape[0], -1).numpy(),
        )
        return g

    @staticmethod
    def _backward_reset(h_seq, s_seq, g_s, alpha, soft, threshold, reset):
        g = torch.empty_like(h_seq)
        np_t = h_seq.numpy().dtype.type
        flat = lambda t: t.contiguous().view(t.shape[0], -1).numpy()  # noqa: E731
        _with_threads(
            "backward_reset",
            flat(g_s.to(h_seq.dtype)),
            flat(h_seq),
            flat(s_seq),
            np_t(threshold),
            np_t(0.0 if reset is None else reset),
            np_t(math.pi / 2 * alpha),
            np_t(alpha / 2),
            np_t(1),
            alpha / 2 != 1,
            soft,
            g.view(g.shape[0], -1).numpy(),
        )
        return g

    @staticmethod
    def backward(ctx, g_s, g_v):
        d_seq, s_seq = ctx.saved_tensors
        alpha, surrogate_id, soft, detach, threshold, reset = ctx.params
        T = d_seq.shape[0]
        if not detach:  # only built when fusable(): compiled loops, ATan
            g = (
                torch.zeros_like(d_seq)
                if g_s is None
                else _FusedIF._backward_reset(d_seq, s_seq, g_s, alpha, soft, threshold, reset)
            )
            return g, (g[0].clone() if ctx.needs_input_grad[1] else None), None, None, None, None, None
        if g_s is not None and surrogate_id == 1 and _compiled(d_seq) and g_s.dtype == d_seq.dtype:
            g = _FusedIF._backward_compiled(d_seq, s_seq, g_s, alpha, soft)
            return g, (g[0].clone() if ctx.needs_input_grad[1] else None), None, None, None, None, None
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
        return g, g_v0, None, None, None, None, None


def fusable(m: nn.Module) -> bool:
    """Whether a neuron module can use the fused path with identical results."""
    if type(m) not in (sj_neuron.IFNode, FusedIFNode):
        return False
    if getattr(m, "store_v_seq", False) or getattr(m, "_neuron_precision", None) is not None:
        return False
    if isinstance(m.v_threshold, torch.Tensor) or isinstance(m.v_reset, torch.Tensor):
        return False
    spec = _surrogate_spec(m.surrogate_function)
    if spec is None or not getattr(m.surrogate_function, "spiking", True):
        return False
    return bool(m.detach_reset) or (HAVE_NUMBA and spec[0] == 1)  # an attached reset: the compiled ATan loop only


class FusedIFNode(sj_neuron.IFNode):
    """SpikingJelly ``IFNode`` whose multi-step forward is :class:`_FusedIF` (see :func:`fusable`).

    Single-step mode, inputs off the CPU (GPUs keep SpikingJelly's own backends; the fused path is
    measured on CPU only) and any input that is not a float32/float64 tensor use SpikingJelly's path.
    The final membrane potential it leaves in ``v`` carries no gradient (a loss on it would get
    none, where SpikingJelly's would); spikes carry exactly SpikingJelly's.
    """

    def multi_step_forward(self, x_seq: torch.Tensor, *args, **kwargs):
        if (
            args
            or kwargs
            or x_seq.device.type != "cpu"
            or x_seq.dtype not in (torch.float32, torch.float64)
            or not fusable(self)
        ):  # GPUs keep SpikingJelly's kernels; the audit may swap in other surrogates
            return super().multi_step_forward(x_seq, *args, **kwargs)
        v = self._memories["v"]
        if not isinstance(v, float):  # a float (the reset value) is added as a scalar: same as a filled tensor
            (v,) = self.materialize_states((x_seq,), tuple(self._memories.values()), "m")[:1]
        surrogate_id, alpha = _surrogate_spec(self.surrogate_function)
        reset = None if self.v_reset is None else float(self.v_reset)
        spikes, v = _FusedIF.apply(
            x_seq, v, float(self.v_threshold), reset, alpha, surrogate_id, bool(self.detach_reset)
        )
        self._memories["v"] = v
        self.v_seq = None
        return spikes
