"""Where things are: the one module that reads environment variables.

- ``SNNLIB_HOME``: the project folder (found automatically: the nearest folder above the
  working directory with ``configs/`` and ``snnlib/``);
- ``SNNLIB_DATA``: where datasets are looked for (relative paths are taken from the project);
- ``SNNLIB_PROFILE``: ``quick`` (default), ``medium`` or ``paper``;
- ``SNNLIB_DEVICE``: ``cpu`` (default) or ``cuda[:N]``, for the book's own computations;
- ``SNNLIB_COMPUTE``: ``1`` or ``0``, whether the book computes a result it needs and does not find
  (default: yes for ``quick``, no for the committed profiles ``medium`` and ``paper``, whose results
  take hours and come from ``python -m snnlib reproduce``).

Everything else receives paths and names from here or from its caller.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import check_choice

PROFILES = ("quick", "medium", "paper")
_output_root: Path | None = None


def project_root() -> Path:
    """The project folder: ``SNNLIB_HOME``, else the nearest folder above the cwd with configs/ and snnlib/."""
    env = os.environ.get("SNNLIB_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "configs").is_dir() and (d / "snnlib").is_dir():
            return d
    pkg = Path(__file__).resolve().parent.parent
    return pkg if (pkg / "configs").is_dir() else here


def data_roots() -> list[Path]:
    """Where datasets are looked for, in order: ``SNNLIB_DATA`` (one folder, or several separated by ``:`` like
    ``PATH``; relative paths are taken from the project), else ``<project>/data``. Several folders let a build read
    the lossless arrays and, for results computed on it, a JPEG copy (a config's ``data.pixels`` picks)."""
    env = os.environ.get("SNNLIB_DATA")
    if not env:
        return [project_root() / "data"]
    out = []
    for part in (e for e in env.split(os.pathsep) if e):
        p = Path(part).expanduser()
        out.append(p if p.is_absolute() else (project_root() / p).resolve())
    return out or [project_root() / "data"]


def data_root() -> Path:
    """The first folder of :func:`data_roots`."""
    return data_roots()[0]


def profile() -> str:
    """The active profile, ``SNNLIB_PROFILE`` (default ``quick``)."""
    p = os.environ.get("SNNLIB_PROFILE", "quick") or "quick"
    check_choice("profile (SNNLIB_PROFILE)", p, PROFILES)
    return p


#: profiles whose results are committed rather than computed when the book is built
COMMITTED = ("medium", "paper")


def book_computes(profile_name: str | None = None) -> bool:
    """Whether the book, built on ``profile_name``, computes the results it misses (``SNNLIB_COMPUTE``; by
    default only the quick profile does: a committed profile's missing result is shown as not yet computed)."""
    env = os.environ.get("SNNLIB_COMPUTE", "")
    if not env:
        return (profile_name or profile()) not in COMMITTED
    check_choice("value of SNNLIB_COMPUTE", env, ("0", "1"))
    return env == "1"


def device() -> str:
    """The device the book and the runners compute on: ``SNNLIB_DEVICE`` (default ``cpu``)."""
    return os.environ.get("SNNLIB_DEVICE", "cpu") or "cpu"


def set_output_root(path) -> None:
    """Put checkpoints under ``path/runs`` and results under ``path/results`` (the CLI's ``--out``)."""
    global _output_root
    _output_root = None if path is None else Path(path).expanduser().resolve()


def output_root() -> Path:
    return _output_root or project_root()


def runs_dir() -> Path:
    return output_root() / "runs"


def cache_dir() -> Path:
    """Decoded datasets: ``<project>/runs/cache``."""
    return project_root() / "runs" / "cache"


def results_dir(profile_name: str | None = None) -> Path:
    return output_root() / "results" / (profile_name or profile())


def figures_dir() -> Path:
    return project_root() / "figures"


def zoo_dir(profile_name: str | None = None) -> Path:
    """Committed model weights of a profile: ``<project>/models/<profile>`` (see :mod:`snnlib.checkpoints`)."""
    return project_root() / "models" / (profile_name or profile())


def parked_dir(profile_name: str | None = None) -> Path:
    """Unfinished runs carried through git: ``<project>/parked/<profile>`` (see :mod:`snnlib.parking`)."""
    return project_root() / "parked" / (profile_name or profile())


def temp_for(path: Path) -> Path:
    """A temporary name next to ``path`` for an atomic write, unique to this process: parallel workers
    (``reproduce --jobs``) may write the same cached file at once, and each renames its own copy."""
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")
