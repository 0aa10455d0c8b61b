"""Norse's neurons (``LIFCell``, ``LIFBoxCell``, ``LIF``, ... inside plain modules or ``SequentialState``) for
:mod:`snnlib.neurons`.

Follows Norse 1.1's source (``norse.torch.module.snn``): a cell keeps no state itself; ``forward(x, state=None)``
starts from ``state_fallback(x)``, the initial state. A model is stateful only where it stores the returned
state tuples on itself between calls (``self.state = ...``); :func:`reset` sets those attributes to None, so
the next call passes ``state=None`` as a fresh Norse run does. The surrogate is ``p.method`` with ``p.alpha``
(``"super"``: SuperSpike, Zenke & Ganguli 2018), dispatched by ``norse.torch.functional.threshold.threshold``,
whose forward is ``x > 0``.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import sys

import torch

from ..errors import NotApplicable
from . import keep_forward, missing, spike_fn_info

try:
    import norse  # noqa: F401  (the package first: its submodules may be cached where it is gone)

    _THRESHOLD = importlib.import_module("norse.torch.functional.threshold").threshold
    from norse.torch.module.snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell
except ImportError as e:
    raise missing("Norse", "norse") from e

LIBRARY, LABEL = "norse", "Norse"
STRICT = True  # Norse's heaviside fires at x > 0
_CELLS = (SNNCell, SNNRecurrentCell, SNN, SNNRecurrent)
_SWAPS: dict[str, object] = {}  # sentinel method name -> spike function, while a swap is active
_IDS = itertools.count()


def owns(module: torch.nn.Module) -> bool:
    """A Norse cell or layer whose parameters choose a threshold ``method`` (a spiking one; ``LICell`` has none)."""
    return isinstance(module, _CELLS) and isinstance(getattr(getattr(module, "p", None), "method", None), str)


def find(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if owns(m)]


def _is_state(v) -> bool:
    """A Norse state tuple (``LIFFeedForwardState``, ...) or a list of them and None (``SequentialState``'s)."""
    if isinstance(v, tuple) and hasattr(v, "_fields"):
        return type(v).__module__.startswith("norse.") and type(v).__name__.endswith("State")
    if isinstance(v, (list, tuple)) and v:
        return all(s is None or _is_state(s) for s in v) and any(s is not None for s in v)
    return False


def _stored(model: torch.nn.Module):
    return [(m, k) for m in model.modules() for k, v in vars(m).items() if not k.startswith("_") and _is_state(v)]


def reset(model: torch.nn.Module) -> None:
    """Set every attribute of ``model`` (and its submodules) that holds Norse state to None."""
    for m, k in _stored(model):
        setattr(m, k, None)


def holds_state(model: torch.nn.Module) -> bool:
    return bool(find(model) or _stored(model))


def surrogate(module: torch.nn.Module) -> dict:
    p = module.p
    if p.method in _SWAPS:
        return spike_fn_info(_SWAPS[p.method])
    alpha = getattr(p, "alpha", None)
    return {"name": p.method, **({"alpha": float(alpha)} if alpha is not None else {})}


def _threshold_dispatch(orig):
    """Norse's ``threshold(x, method, alpha)``, sending swapped neurons' sentinel methods to their spike function."""

    def threshold(x, method, alpha):
        fn = _SWAPS.get(method) if isinstance(method, str) else None
        return orig(x, method, alpha) if fn is None else fn(x)

    threshold.__wrapped__, threshold.snnlib_dispatch = orig, True
    return threshold


def _patch(on: bool) -> None:
    """Install (or remove, when no swap is active) the dispatch in every loaded Norse module that calls threshold."""
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "threshold", None) if name.startswith("norse.") else None
        if on and f is _THRESHOLD:
            mod.threshold = _threshold_dispatch(f)
        elif not on and getattr(f, "snnlib_dispatch", False):
            mod.threshold = f.__wrapped__


@contextlib.contextmanager
def swap_surrogate(module: torch.nn.Module, fn):
    """``p.method`` becomes a sentinel that Norse's ``threshold`` sends to ``fn`` (with Norse's forward); ``p`` and
    ``threshold`` are restored on exit. The adjoint method has no threshold call to swap: NotApplicable."""
    p = module.p
    if p.method == "adjoint" or not hasattr(p, "_replace"):
        raise NotApplicable(f"norse {type(module).__name__} with method {p.method!r} has no surrogate to swap")
    key = f"snnlib-swap-{next(_IDS)}"
    _SWAPS[key] = keep_forward(fn, STRICT)
    _patch(True)
    try:
        module.p = p._replace(method=key)
        yield module
    finally:
        module.p = p
        del _SWAPS[key]
        if not _SWAPS:
            _patch(False)
