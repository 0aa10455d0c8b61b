"""snnTorch's neurons (``snntorch.SpikingNeuron``: ``Leaky``, ``Synaptic``, ``RLeaky``, ...) for :mod:`snnlib.neurons`.

Follows snnTorch 1.0's source: with ``init_hidden=True`` the state lives in module buffers (``mem``, ``syn``,
``spk``) and carries over between calls unless reset; each neuron's ``reset_mem()`` (what the deprecated
``init_leaky``/``init_synaptic``/``init_rleaky`` call) sets it to zeros. ``snntorch.utils.reset`` is not used:
it resets every instance of a class in the process (``reset_hidden`` is a classmethod), not one model's. The
surrogate is the ``spike_grad`` attribute, a closure such as ``surrogate.atan(alpha)`` called on
``mem - threshold`` whose forward is ``x > 0``.
"""

from __future__ import annotations

import contextlib

import torch

from . import keep_forward, missing, set_spike_attr, spike_fn_info

try:
    import snntorch
except ImportError as e:
    raise missing("snnTorch", "snntorch") from e

LIBRARY, LABEL = "snntorch", "snnTorch"
STRICT = True  # snnTorch's Heaviside fires at x > 0


def owns(module: torch.nn.Module) -> bool:
    return isinstance(module, snntorch.SpikingNeuron)


def find(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if owns(m)]


def reset(model: torch.nn.Module) -> None:
    """Each neuron's ``reset_mem()`` (zeros, detached from any graph); neurons without one keep no state."""
    for _, m in find(model):
        if callable(getattr(m, "reset_mem", None)):
            m.reset_mem()


def holds_state(model: torch.nn.Module) -> bool:
    return bool(find(model))


def surrogate(module: torch.nn.Module) -> dict:
    """The factory's name and its numeric arguments, read from the closure: ``atan(alpha=2)`` -> atan, alpha 2."""
    return spike_fn_info(module.spike_grad)


@contextlib.contextmanager
def swap_surrogate(module: torch.nn.Module, fn):
    """``spike_grad`` becomes ``fn`` with snnTorch's forward (:func:`~snnlib.neurons.keep_forward`); restored on exit."""
    old = module.spike_grad
    try:
        set_spike_attr(module, "spike_grad", keep_forward(fn, STRICT))
        yield module
    finally:
        module.spike_grad = old
