"""Spike encoders: weighted phase coding (paper Section 4.1), rate and direct coding.

Every encoder is a stateless ``nn.Module`` that maps images ``[B,C,H,W]`` in
[0, 1] to a spike tensor ``[T,B,C,H,W]`` in one vectorised call.

Phase coding (Kim et al. 2018) turns the 8-bit pixel ``p = round(255 x)`` into
its K-bit binary expansion, most significant bit first, repeated cyclically
over the T time steps: ``s[t] = bit_{t mod K}(p)``. With the paper's T=10, K=8
steps 9 and 10 repeat the two most significant bits. This is bit-identical to
what the authors' code feeds the network: SpikingJelly's stateful
``WeightedPhaseEncoder(K=8)`` called T times on ``p/256``.

The paper's text weights spike t by ``omega(t) = 2^-(1 + mod(t-1, K))``; the
authors' code never does. ``weighted=False`` (the default) follows the code,
``weighted=True`` the text.

Phase coding is a quantiser, so its true gradient is zero almost everywhere.
``grad`` picks the backward that pixel-space attacks see:

- ``"ste"``: straight-through (BPDA, Athalye et al. 2018). Each time step is
  treated as the identity of x, so ``dL/dx = sum_t dL/ds[t]``. Every bit-plane gets equal
  weight, including the most significant ones, which a small change almost never flips.
- ``"omega"``: the omega-weighted straight-through backward: step t carries the weight of its
  bit, ``dL/dx = sum_t omega(t) dL/ds[t]`` (the derivative of the decoding ``x ~ sum_t omega(t) s[t]``).
- ``"flip"``: the expected-flip backward, the derivative of a smoothed quantiser: bit k of
  ``round(255 (x + u))`` averaged over ``u ~ U(-w, w)`` has derivative
  ``(b_k(x + w) - b_k(x - w)) / (2 w)``; ``w`` is ``flip_width`` (default 8/255, the paper's eps).
  Bits that cannot flip within the window get exactly zero.
- ``"none"``: the true gradient, zero.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import SnnlibError, check_choice, check_images

GRADS = ("ste", "none", "omega", "flip")


class _WeightedThrough(torch.autograd.Function):
    """Forward: the given spikes. Backward: ``dL/dx = sum_t w[t] dL/ds[t]`` (``w`` None: all ones)."""

    @staticmethod
    def forward(ctx, x, spikes, w):
        ctx.w = w
        return spikes

    @staticmethod
    def backward(ctx, g):
        return (g.sum(0) if ctx.w is None else (g * ctx.w).sum(0)), None, None


def _attach_grad(x: torch.Tensor, spikes: torch.Tensor, grad: str, w=None) -> torch.Tensor:
    if grad in ("ste", "omega", "flip") and x.requires_grad:
        return _WeightedThrough.apply(x, spikes, w)
    return spikes


def phase_weights(T: int, K: int = 8) -> torch.Tensor:
    """omega(t) = 2^-(1 + mod(t-1, K)) for t = 1..T (paper Section 4.1)."""
    t = torch.arange(T)
    return torch.pow(2.0, -(1 + t % K).float())


class PhaseEncoder(nn.Module):
    """Weighted phase coding (Kim et al. 2018; paper Section 4.1).

    Args:
        T: number of time steps (paper: 10).
        K: bits per pixel and phase period (paper: 8).
        weighted: multiply spike t by omega(t), as the paper's text says.
            The authors' code does not, so the default is False.
        grad: ``"ste"`` (straight-through / BPDA) or ``"none"`` (true zero gradient).
    """

    def __init__(self, T: int = 10, K: int = 8, weighted: bool = False, grad: str = "ste", flip_width: float = 8 / 255):
        super().__init__()
        if int(T) < 1 or int(K) < 1:
            raise SnnlibError(f"PhaseEncoder needs T >= 1 and K >= 1, got T={T}, K={K}")
        check_choice("encoder grad", grad, GRADS)
        self.T, self.K, self.weighted, self.grad = int(T), int(K), bool(weighted), grad
        self.flip_width = float(flip_width)
        shifts = (self.K - 1 - torch.arange(self.T) % self.K).view(-1, 1, 1, 1, 1)
        self.register_buffer("shifts", shifts, persistent=False)
        self.register_buffer("omega", phase_weights(self.T, self.K).view(-1, 1, 1, 1, 1), persistent=False)

    def quantise(self, x: torch.Tensor) -> torch.Tensor:
        """Integer pixel levels ``round((2^K - 1) x)``."""
        return torch.round(x.detach() * (2**self.K - 1)).to(torch.int32)

    def bits(self, p: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        """The T spike planes ``[T, ...]`` of integer pixel levels ``p``."""
        return ((p.unsqueeze(0) >> self.shifts.view(-1, *[1] * p.dim())) & 1).to(dtype)

    def _backward_weights(self, x: torch.Tensor):
        """Per-step (and for ``flip`` per-element) weights of the encoder's backward, or None (``ste``)."""
        if self.grad == "omega":
            return self.omega.to(x.dtype)
        if self.grad == "flip":
            w, top = self.flip_width, 2**self.K - 1
            hi = torch.round((x.detach() + w).clamp(0, 1) * top).to(torch.int32)
            lo = torch.round((x.detach() - w).clamp(0, 1) * top).to(torch.int32)
            return (self.bits(hi, x.dtype) - self.bits(lo, x.dtype)) / (2 * w)
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        p = self.quantise(x).unsqueeze(0)
        spikes = ((p >> self.shifts) & 1).to(x.dtype)
        if self.weighted:
            spikes = spikes * self.omega.to(x.dtype)
        w = self._backward_weights(x) if x.requires_grad else None
        return _attach_grad(x, spikes, self.grad, w)

    def extra_repr(self) -> str:
        return f"T={self.T}, K={self.K}, weighted={self.weighted}, grad={self.grad!r}"

    def encode_levels(self, p: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        """Spikes ``[T, B, C, H, W]`` of integer pixel levels ``p`` (``[B, C, H, W]``, in 0..2^K - 1)."""
        spikes = self.bits(p, dtype)
        return spikes * self.omega.to(dtype) if self.weighted else spikes


def decode_phase(spikes: torch.Tensor, K: int = 8) -> torch.Tensor:
    """The image phase-coded spikes stand for: sum over the first K steps of omega(t) s[t], times 256/255."""
    w = torch.pow(2.0, -(1 + torch.arange(K).float())).view(-1, *[1] * (spikes.dim() - 1))
    return torch.clamp((spikes[:K] * w).sum(0) * 256 / 255, 0, 1)


class RateEncoder(nn.Module):
    """Poisson rate coding: ``s[t] ~ Bernoulli(x)`` independently over T steps.

    Stochastic: attacks on it need EOT. ``grad="ste"`` passes the gradient of
    the expectation (identity per step); ``generator`` makes it reproducible.
    """

    def __init__(self, T: int = 10, grad: str = "ste", generator: torch.Generator | None = None):
        super().__init__()
        check_choice("encoder grad", grad, GRADS)
        self.T, self.grad, self.generator = int(T), grad, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        u = torch.rand((self.T,) + tuple(x.shape), generator=self.generator, device=x.device, dtype=x.dtype)
        spikes = (u < x.detach()).to(x.dtype)
        return _attach_grad(x, spikes, self.grad)

    def extra_repr(self) -> str:
        return f"T={self.T}, grad={self.grad!r}"


class DirectEncoder(nn.Module):
    """Direct (analog) coding: the image itself, repeated over T steps. Exact gradient."""

    def __init__(self, T: int = 10):
        super().__init__()
        self.T = int(T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        return x.unsqueeze(0).expand((self.T,) + tuple(x.shape))

    def extra_repr(self) -> str:
        return f"T={self.T}"


class FrameEncoder(nn.Module):
    """DVS frames ``[B,T,C,H,W]`` in [0, 1] -> ``[T,B,C,H,W]``; the identity otherwise (exact gradient).

    For CIFAR10-DVS the attacked input is these normalised frames (see :mod:`snnlib.data`).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 5:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise SnnlibError(f"DVS frames must have shape [B,T,C,H,W] (rank 5), got {shape}")
        check_images(x.flatten(0, 1), "DVS frames")
        return x.transpose(0, 1)


ENCODERS = {"phase": PhaseEncoder, "rate": RateEncoder, "direct": DirectEncoder, "frames": FrameEncoder}


def build_encoder(name: str, T: int = 10, K: int = 8, weighted: bool = False, grad: str = "ste") -> nn.Module:
    """Build an encoder by name: ``phase``, ``rate``, ``direct`` or ``frames`` (DVS)."""
    check_choice("encoder", name, tuple(ENCODERS))
    if name == "frames":
        return FrameEncoder()
    if name == "phase":
        return PhaseEncoder(T=T, K=K, weighted=weighted, grad=grad)
    if name == "rate":
        return RateEncoder(T=T, grad=grad)
    return DirectEncoder(T=T)
