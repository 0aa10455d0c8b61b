"""Errors raised for bad input.

Every check in snnlib raises one of these with a message that says what was
expected. The command line prints the message alone, without a stack trace.
"""


class SnnlibError(ValueError):
    """A bad name, shape, range, path or setting given to snnlib."""


class DataNotFoundError(SnnlibError, FileNotFoundError):
    """A dataset is not on disk and could not be downloaded."""


class CheckpointError(SnnlibError):
    """A checkpoint file is missing, truncated, corrupted or not snnlib's."""


class NotApplicable(SnnlibError):
    """An attack or probe that cannot apply to this model (e.g. a surrogate swap on a model with no spiking
    neurons); the audit records the reason and skips it."""


def check_choice(kind: str, value, choices) -> None:
    """Raise if ``value`` is not one of ``choices``, naming all of them."""
    if value not in choices:
        raise SnnlibError(f"unknown {kind} {value!r}; expected one of: {', '.join(map(str, choices))}")


def check_images(x, name: str = "images") -> None:
    """Check a ``[B,C,H,W]`` float batch with values in [0, 1]."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise SnnlibError(f"{name} must be a torch.Tensor of shape [B,C,H,W], got {type(x).__name__}")
    if x.dim() != 4:
        raise SnnlibError(f"{name} must have shape [B,C,H,W] (rank 4), got shape {tuple(x.shape)} (rank {x.dim()})")
    if not x.is_floating_point():
        raise SnnlibError(f"{name} must be floating point in [0,1], got dtype {x.dtype}")
    if x.numel():
        lo, hi = torch.aminmax(x.detach())
        if lo < 0 or hi > 1 or not torch.isfinite(lo + hi):
            raise SnnlibError(
                f"{name} must lie in [0,1] (divide 8-bit pixels by 255); got values in "
                f"[{lo.item():.4g}, {hi.item():.4g}]"
            )
