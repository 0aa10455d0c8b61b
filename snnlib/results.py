"""Result files: atomic JSON, the one cache rule, provenance, and tidy DataFrames.

Every run (training, evaluation, probes, audit, benchmark) writes one small JSON
file under ``results/<profile>/<run_id>/``. Each holds the full config, the
environment (git commit, package versions, machine, device, seed), the metrics
and the wall time. Paths inside are written relative to the project or to the
data root (:func:`portable`), so a result file names no machine path. The book
reads results through :func:`load` and never parses logs.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from . import places
from .errors import SnnlibError


def _roots() -> list[tuple[str, str]]:
    """(absolute folder, portable name) pairs, longest first: data root, output root, project root."""
    pairs = {
        **{str(r): "$SNNLIB_DATA" for r in places.data_roots()},
        str(places.output_root()): ".",
        str(places.project_root()): ".",
    }
    return sorted(((k, v) for k, v in pairs.items() if len(k) > 1), key=lambda kv: -len(kv[0]))


def portable(text: str) -> str:
    """``text`` with the data, output and project folders written as ``$SNNLIB_DATA`` and ``.``:
    result files name no machine path."""
    for folder, name in _roots():
        text = text.replace(folder + "/", name + "/").replace(folder, name)
    return text


def write_json(path: Path, obj: dict) -> Path:
    """Write JSON atomically (temporary file, then rename), with machine paths made portable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = places.temp_for(path)
    tmp.write_text(portable(json.dumps(obj, indent=1, default=_jsonable)))
    os.replace(tmp, path)
    return path


def read_json(path: Path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SnnlibError(f"result file {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise SnnlibError(f"result file {path} is not valid JSON ({e})") from None


class ResultMissing(SnnlibError):
    """A result was needed inside :func:`only_cached`, and it has not been computed."""


_ONLY_CACHED: contextvars.ContextVar[bool] = contextvars.ContextVar("only_cached", default=False)


@contextlib.contextmanager
def only_cached(flag: bool = True):
    """Inside this block (with ``flag``) :func:`cached` never computes: a missing result raises
    :class:`ResultMissing`. With ``flag=False`` the block computes what is missing (the default outside any
    block). The book reads through :func:`book_reading`."""
    token = _ONLY_CACHED.set(bool(flag))
    try:
        yield
    finally:
        _ONLY_CACHED.reset(token)


def book_reading(profile: str):
    """The book's reading of ``profile``: :func:`only_cached` unless the book computes that profile
    (:func:`snnlib.places.book_computes`: the quick profile, or ``SNNLIB_COMPUTE=1``). Inside an outer read-only
    block it stays read-only. The report's functions read every result through it."""
    return only_cached(_ONLY_CACHED.get() or not places.book_computes(profile))


def cached(
    path: Path, compute: Callable[[], dict], force: bool = False, valid: Callable[[dict], bool] | None = None
) -> dict:
    """The result stored at ``path`` if it exists (and ``valid(result)``), else ``compute()``, written
    atomically. Either way the returned dict carries ``result_file``. ``force`` recomputes."""
    path = Path(path)
    if path.exists() and not force:
        prev = read_json(path)
        if valid is None or valid(prev):
            prev["result_file"] = str(path)
            return prev
    if _ONLY_CACHED.get():
        raise ResultMissing(f"{portable(str(path))} has not been computed (and this block only reads results)")
    res = compute()
    write_json(path, res)
    res["result_file"] = str(path)
    return res


def _jsonable(o):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot store {type(o).__name__} in a result file")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=places.project_root(), capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except Exception:
        return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what ``platform`` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    """Versions of Python and of the libraries that change numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("torch", "numpy", "spikingjelly", "torchattacks", "torchvision"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def environment(device: str = "cpu", seed: int | None = None) -> dict:
    """What produced a result: commit, versions, machine, device, threads, seed, time."""
    import torch

    dev = str(device)
    if dev.startswith("cuda") and torch.cuda.is_available():
        dev = f"{device} ({torch.cuda.get_device_name()})"
    env = {
        "git_commit": git_commit(),
        "versions": versions(),
        "device": dev,
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "seed": seed,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    try:
        env["load_average"] = os.getloadavg()[0]
    except OSError:
        pass
    return env


def run_dir(cfg, profile_name: str | None = None) -> Path:
    return places.results_dir(profile_name or profile_of(cfg)) / cfg.run_id


def profile_of(cfg) -> str:
    """A config's profile folder name: its profile, or ``custom``."""
    return cfg.profile if cfg.profile in places.PROFILES else "custom"


def files(profile_name: str | None = None, kind: str = "*") -> list[Path]:
    return sorted(places.results_dir(profile_name).glob(f"*/{kind}.json"))


def load(profile_name: str | None = None, kind: str = "train") -> pd.DataFrame:
    """One row per result file of ``kind`` (``train``, ``eval``, ...) with config and final metrics flattened."""
    rows = []
    for f in files(profile_name, kind):
        d = read_json(f)
        row = {"run_id": f.parent.name, "file": str(f)}
        row.update(pd.json_normalize({"config": d.get("config", {})}, sep=".").iloc[0].to_dict())
        row.update({k: v for k, v in d.get("final", {}).items() if not isinstance(v, (dict, list))})
        row["wall_time_s"] = d.get("wall_time_s")
        rows.append(row)
    return pd.DataFrame(rows)
