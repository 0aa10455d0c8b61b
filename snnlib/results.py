"""Result files <-> tidy DataFrames.

Every run (training, evaluation, probes, audit, benchmark) writes one small JSON
file under ``results/<profile>/<run_id>/``. Each holds the full config, the
environment (git commit, package versions, device, seed), the metrics and the
wall time. The book reads them through :func:`load` and never parses logs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import pandas as pd

from . import config as _config
from .errors import SnnlibError


def write_json(path: Path, obj: dict) -> Path:
    """Write JSON atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=_jsonable))
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
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_config.project_root(), capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except Exception:
        return None


def environment(device: str = "cpu", seed: int | None = None) -> dict:
    """What produced a result: commit, versions, device, threads, seed."""
    import numpy
    import spikingjelly
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    for name in ("spikingjelly", "torchattacks", "torchvision"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            pass
    dev = device
    if str(device).startswith("cuda") and torch.cuda.is_available():
        dev = f"{device} ({torch.cuda.get_device_name()})"
    return {
        "git_commit": git_commit(),
        "versions": versions,
        "device": dev,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "seed": seed,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def run_dir(cfg, profile_name: str | None = None) -> Path:
    return _config.results_dir(profile_name or _profile_of(cfg)) / cfg.run_id


def _profile_of(cfg) -> str:
    return cfg.profile if cfg.profile in _config.PROFILES else "custom"


def files(profile_name: str | None = None, kind: str = "*") -> list[Path]:
    return sorted(_config.results_dir(profile_name).glob(f"*/{kind}.json"))


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


def history(result: dict) -> pd.DataFrame:
    """Per-epoch metrics of a training result as a DataFrame."""
    return pd.DataFrame(result.get("history", []))
