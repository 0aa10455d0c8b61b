"""Spiking neurons of any library behind one interface, so the audit can reset and re-differentiate any SNN.

One adapter module per library (:data:`ADAPTERS`): :mod:`.spikingjelly`, :mod:`.snntorch`, :mod:`.norse`.
Each module offers the same functions:

- ``owns(module) -> bool`` and ``find(model) -> [(name, module)]``: its spiking neurons;
- ``reset(model)``: their state back to the initial one (the library's own reset);
- ``holds_state(model) -> bool``: whether ``model`` keeps anything of this library between calls;
- ``surrogate(module) -> dict``: the neuron's surrogate gradient, its name and parameters;
- ``swap_surrogate(module, fn)``: a context manager that gives the neuron the spike function ``fn``
  (forward Heaviside, a chosen backward, e.g. a SpikingJelly surrogate module); the library's own forward
  (its Heaviside convention, :func:`keep_forward`) is kept bit for bit, and the original comes back on exit.

The functions here dispatch over the adapters whose library is already imported in this process (a model
that contains a library's neuron has imported it), so looking for neurons never imports a library and never
fails for a library that is not installed. :func:`get` imports an adapter by name and raises
:class:`~snnlib.errors.SnnlibError` naming the extra to install where its library is missing.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections import Counter

import torch

from ..errors import NotApplicable, SnnlibError, check_choice

#: adapter name -> (the library's import name, the pip extra that installs it)
ADAPTERS = {"spikingjelly": ("spikingjelly", None), "snntorch": ("snntorch", "snntorch"), "norse": ("norse", "norse")}
#: gradient estimators defined for SpikingJelly multi-step IF neurons only (:mod:`snnlib.attacks.estimators`)
IF_ONLY = ("ASSG", "RGA", "BPTR")


def missing(label: str, extra: str | None) -> SnnlibError:
    """The one-line error for an adapter whose library is not installed."""
    how = f'pip install -e ".[{extra}]"' if extra else "pip install -e ."
    return SnnlibError(f"{label} is not installed; install it with: {how}")


def get(name: str):
    """The adapter module ``name`` (one of :data:`ADAPTERS`); SnnlibError naming the extra if its library is missing."""
    check_choice("neuron library", name, tuple(ADAPTERS))
    return importlib.import_module(f"{__name__}.{name}")


def loaded() -> list:
    """The adapters whose library is imported in this process (only those can own a module of a live model)."""
    return [get(n) for n, (pkg, _) in ADAPTERS.items() if sys.modules.get(pkg) is not None]


def adapter_of(module: torch.nn.Module):
    """The adapter that owns ``module`` as a spiking neuron, or None."""
    return next((a for a in loaded() if a.owns(module)), None)


def find(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """Every spiking neuron of ``model`` from any library, with its name, in ``named_modules`` order."""
    ads = loaded()
    return [(n, m) for n, m in model.named_modules() if any(a.owns(m) for a in ads)]


def reset(model: torch.nn.Module) -> None:
    """Reset the state of every library's neurons in ``model`` (each with its library's own reset)."""
    for a in loaded():
        a.reset(model)


def holds_state(model: torch.nn.Module) -> bool:
    """Whether ``model`` has neurons or state of any library that must be reset between calls."""
    return any(a.holds_state(model) for a in loaded())


def surrogate(module: torch.nn.Module) -> dict:
    """The surrogate of one spiking neuron: ``{"library", "name", **params}``."""
    a = adapter_of(module)
    if a is None:
        raise NotApplicable(f"{type(module).__name__} is not a spiking neuron of {', '.join(ADAPTERS)}")
    return {"library": a.LIBRARY, **a.surrogate(module)}


def swap_surrogate(module: torch.nn.Module, fn):
    """Context manager: one neuron's spike function becomes ``fn`` (see the module docstring)."""
    a = adapter_of(module)
    if a is None:
        raise NotApplicable(f"{type(module).__name__} is not a spiking neuron of {', '.join(ADAPTERS)}")
    return a.swap_surrogate(module, fn)


@contextlib.contextmanager
def swap_all(model: torch.nn.Module, make):
    """Every spiking neuron of ``model`` gets ``make()`` (a new spike function each); all restored on exit."""
    with contextlib.ExitStack() as stack:
        for _, m in find(model):
            stack.enter_context(swap_surrogate(m, make()))
        yield model


def describe(modules) -> str:
    """``"snntorch Leaky x2, norse LIFCell"``: what kinds of neurons a list holds (for NotApplicable reasons)."""

    def kind(m):
        a, single = adapter_of(m), " (single-step)" if getattr(m, "step_mode", None) == "s" else ""
        return f"{a.LIBRARY if a else 'unknown'} {type(m).__name__}{single}"

    return ", ".join(k if c == 1 else f"{k} x{c}" for k, c in Counter(kind(m) for m in modules).items())


def keep_forward(fn, strict: bool):
    """``fn`` (a spike function) with the forward replaced by the library's Heaviside: ``x > 0`` (``strict``,
    snnTorch, Norse) or ``x >= 0`` (SpikingJelly). The value is exactly the Heaviside (``s - s.detach()`` is 0),
    the backward is ``fn``'s (the straight-through construction of Bengio et al. 2013)."""

    def spike(x):
        s = fn(x)
        h = (x > 0) if strict else (x >= 0)
        return h.to(s.dtype) + (s - s.detach())

    spike.snnlib_surrogate = fn
    return spike


def spike_fn_info(fn) -> dict:
    """Name and numeric parameters of a spike function: a module's ``alpha``/``beta`` (SpikingJelly's surrogates), or
    a factory's name and closure (snnTorch's ``atan(alpha=2)`` -> atan, alpha 2); what :func:`keep_forward` wraps."""
    fn = getattr(fn, "snnlib_surrogate", fn)
    if isinstance(fn, SpikeFn):
        return spike_fn_info(fn.fn)
    if isinstance(fn, torch.nn.Module):
        return {
            "name": type(fn).__name__,
            **{k: float(getattr(fn, k)) for k in ("alpha", "beta") if isinstance(getattr(fn, k, None), (int, float))},
        }
    try:
        free = inspect.getclosurevars(fn).nonlocals
    except TypeError:  # a builtin or a callable object
        free = {}
    name = getattr(fn, "__qualname__", type(fn).__name__).split(".<locals>")[0]
    return {"name": name, **{k: float(v) for k, v in free.items() if isinstance(v, (int, float))}}


class SpikeFn(torch.nn.Module):
    """A plain spike function as a module (for attributes a library registered as a submodule)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def set_spike_attr(module: torch.nn.Module, name: str, fn) -> None:
    """Set ``module.<name>`` to the spike function ``fn``, as a module where the attribute is a submodule."""
    if name in module._modules:
        setattr(module, name, fn if isinstance(fn, torch.nn.Module) else SpikeFn(fn))
    else:
        setattr(module, name, (lambda x: fn(x)) if isinstance(fn, torch.nn.Module) else fn)


def if_only(what: str) -> bool:
    """Whether the method named in ``what`` is one of :data:`IF_ONLY`."""
    return any(k in what for k in IF_ONLY)
