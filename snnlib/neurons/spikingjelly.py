"""SpikingJelly's neurons (``activation_based.neuron.BaseNode``, single- and multi-step) for :mod:`snnlib.neurons`.

State lives in the neurons' memories and is reset by ``functional.reset_net`` (SpikingJelly's own reset of
every ``MemoryModule``); the surrogate is the ``surrogate_function`` attribute (a ``SurrogateFunctionBase``
module, forward ``heaviside(x) = x >= 0``).
"""

from __future__ import annotations

import contextlib

import torch

from . import keep_forward, missing, set_spike_attr, spike_fn_info

try:
    from spikingjelly.activation_based import base as sj_base
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based import neuron as sj_neuron
    from spikingjelly.activation_based import surrogate as sj_surrogate
except ImportError as e:  # pragma: no cover - a core dependency
    raise missing("SpikingJelly", None) from e

LIBRARY, LABEL = "spikingjelly", "SpikingJelly"
STRICT = False  # SpikingJelly's Heaviside fires at x >= 0


def owns(module: torch.nn.Module) -> bool:
    return isinstance(module, sj_neuron.BaseNode)


def find(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if owns(m)]


def reset(model: torch.nn.Module) -> None:
    """``functional.reset_net``: every SpikingJelly ``MemoryModule`` (neurons and stateful layers) to its initial state."""
    functional.reset_net(model)


def holds_state(model: torch.nn.Module) -> bool:
    return any(isinstance(m, sj_base.MemoryModule) for m in model.modules())


def multistep_if(module: torch.nn.Module) -> bool:
    """An IF neuron in multi-step mode: what ASSG, RGA and BPTR (:mod:`snnlib.attacks.estimators`) are defined for."""
    return isinstance(module, sj_neuron.IFNode) and getattr(module, "step_mode", "s") == "m"


def surrogate(module: torch.nn.Module) -> dict:
    return spike_fn_info(module.surrogate_function)


@contextlib.contextmanager
def swap_surrogate(module: torch.nn.Module, fn):
    """A SpikingJelly surrogate module is set as it is (the fused IF kernel, :mod:`snnlib.kernels`, still applies);
    any other spike function gets SpikingJelly's Heaviside forward (:func:`~snnlib.neurons.keep_forward`)."""
    old = module.surrogate_function
    new = fn if isinstance(fn, sj_surrogate.SurrogateFunctionBase) else keep_forward(fn, STRICT)
    try:
        set_spike_attr(module, "surrogate_function", new)
        yield module
    finally:
        module.surrogate_function = old
