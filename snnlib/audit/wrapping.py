"""The model as the audit calls it: neuron state reset around every call, whatever the SNN library, and its outputs
checked to be ``[B, K]`` logits. Shared by :mod:`.api` (the audit) and :mod:`.verify` (re-checking examples)."""

from __future__ import annotations

import torch

from .. import neurons
from ..errors import SnnlibError
from ..models import SpikingClassifier


class ResetEveryCall(torch.nn.Module):
    """Wrap a network so that the state of its neurons, of any library, is reset before and after every forward
    (:func:`snnlib.neurons.reset`: SpikingJelly's ``reset_net``, snnTorch's ``reset_mem``, Norse state set to None)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        neurons.reset(self.model)
        try:
            return self.model(x)
        finally:
            neurons.reset(self.model)


def prepare(model: torch.nn.Module) -> torch.nn.Module:
    """The model as the audit calls it: networks with SpikingJelly, snnTorch or Norse neurons (or state) reset on
    every call, everything else as it is."""
    if not isinstance(model, torch.nn.Module):
        raise SnnlibError(f"the model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, (SpikingClassifier, ResetEveryCall)):
        return model
    if neurons.holds_state(model):
        return ResetEveryCall(model)
    return model


def check_outputs(model, x, n_classes: int | None) -> int:
    """Run one forward and check the output is ``[B, K]`` logits for ``K`` classes; returns K."""
    with torch.no_grad():
        out = model.eval()(x[: min(4, len(x))])
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != min(4, len(x)):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SnnlibError(
            f"the model must map images [B,C,H,W] to logits [B,K]; for a batch of {min(4, len(x))} it returned {shape}"
        )
    k = int(out.shape[1])
    if n_classes is not None and k != n_classes:
        raise SnnlibError(f"the model returns {k} outputs per image, but the data have {n_classes} classes")
    return k
