"""Input and output conventions of models that do not map images in [0, 1] to logits ``[B,K]``, and the audit's
exit policy for CI (``--fail-on``).

:class:`Conventions` wraps such a model so that the audit sees the usual classifier: ``normalize`` puts the
``(x - mean) / std`` the model expects inside it, so the attacks stay in pixel space [0, 1] and eps keeps its
pixel units (as RobustBench and torchattacks' ``set_normalization_used`` do); ``time_major=T`` repeats the
image over T steps as ``[T,B,C,H,W]`` (direct input, SpikingJelly's multi-step convention) and averages a
time-major output ``[T,B,K]`` over its first axis (T-averaged logits, as :class:`~snnlib.models.SpikingClassifier`);
``time_major=0`` only averages (a model that takes images and returns ``[T,B,K]``).
"""

from __future__ import annotations

import torch

from ..errors import SnnlibError


class Conventions(torch.nn.Module):
    """``model`` behind normalisation and/or time-major input and output (see the module docstring)."""

    def __init__(self, model: torch.nn.Module, mean=None, std=None, time_major: int | None = None):
        super().__init__()
        self.model, self.time_major = model, time_major
        shape = (1, -1, 1, 1)
        self.register_buffer("mean", None if mean is None else torch.tensor(mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", None if std is None else torch.tensor(std, dtype=torch.float32).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        if self.time_major is None:
            return self.model(x)
        b = len(x)
        if self.time_major == 0:
            return time_average(self.model(x), b)
        x = x.unsqueeze(0).repeat(self.time_major, *([1] * x.dim()))
        try:
            out = self.model(x)
        except RuntimeError as e:  # a model that takes [B,C,H,W] only: say so in one line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SnnlibError(
                f"--time-major {self.time_major}: the model failed on the images repeated as "
                f"[T,B,C,H,W] = {tuple(x.shape)} ({msg})"
            ) from e
        return time_average(out, b)


def time_average(out, b: int) -> torch.Tensor:
    """The mean over the first axis of a time-major output ``[T,B,K]``; one-line error for any other shape."""
    if isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[1] == b:
        return out.mean(0)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    hint = "; it has no time axis: leave out --time-major" if isinstance(out, torch.Tensor) and out.dim() == 2 else ""
    raise SnnlibError(
        f"--time-major: the model must return [T,B,K] (time first); for a batch of {b} it returned {shape}{hint}"
    )


def _values(v, what: str) -> list[float]:
    """One number, a sequence of numbers, or a comma-separated string of them."""
    if isinstance(v, str):
        try:
            return [float(t) for t in v.split(",") if t.strip()]
        except ValueError:
            raise SnnlibError(f"--normalize MEAN STD takes numbers separated by commas; {what} is {v!r}") from None
    return [
        float(t)
        for t in (v.flatten().tolist() if isinstance(v, torch.Tensor) else v if isinstance(v, (list, tuple)) else [v])
    ]


def check_normalize(normalize, channels: int) -> tuple[list[float], list[float]]:
    """``(mean, std)``, each one value or one per channel of the images; std positive."""
    if not isinstance(normalize, (list, tuple)) or len(normalize) != 2:
        raise SnnlibError(f"normalize must be (mean, std), got {normalize!r}")
    mean, std = _values(normalize[0], "MEAN"), _values(normalize[1], "STD")
    if len(mean) != len(std) or len(mean) not in (1, channels):
        raise SnnlibError(
            f"--normalize: {len(mean)} mean(s) and {len(std)} std(s) for images with {channels} "
            f"channel(s); give one value each or {channels} each"
        )
    if any(not s > 0 for s in std):
        raise SnnlibError(f"--normalize: every std must be positive, got {std}")
    return mean, std


def wrap(model: torch.nn.Module, x: torch.Tensor, normalize=None, time_major: int | None = None) -> torch.nn.Module:
    """``model`` as the audit calls it under these conventions (itself where none is given), checked against the
    images ``x``."""
    if normalize is None and time_major is None:
        return model
    mean, std = check_normalize(normalize, x.shape[1]) if normalize is not None else (None, None)
    if time_major is not None and (not isinstance(time_major, int) or isinstance(time_major, bool) or time_major < 0):
        raise SnnlibError(
            f"--time-major takes the number of time steps T >= 1 (or 0: average only), got {time_major!r}"
        )
    return Conventions(model, mean, std, time_major)


def parse_fail_on(rules) -> list[tuple[str, float | None]]:
    """``--fail-on`` values: ``flags`` (any red flag fired) or ``worst-below:X`` (worst-case accuracy below X, a
    fraction in [0, 1])."""
    out = []
    for r in rules or []:
        kind, _, arg = str(r).partition(":")
        if kind == "flags" and not arg:
            out.append(("flags", None))
            continue
        try:
            x = float(arg) if kind == "worst-below" else None
        except ValueError:
            x = None
        if x is None or not 0 <= x <= 1:
            raise SnnlibError(f"--fail-on takes 'flags' or 'worst-below:X' with X a fraction in [0, 1], got {r!r}")
        out.append(("worst-below", x))
    return out


def failures(card: dict, rules) -> list[str]:
    """Which ``--fail-on`` rules a report card breaks, each as a short reason (empty: the audit passes)."""
    out = []
    for kind, x in rules:
        fired = [f["name"] for f in card["flags"] if f["fired"]]
        if kind == "flags" and fired:
            out.append(f"red flags fired: {', '.join(fired)}")
        elif kind == "worst-below" and card["worst_case_acc"] < x:
            out.append(f"worst-case accuracy {card['worst_case_acc']:.3f} below {x:g}")
    return out
