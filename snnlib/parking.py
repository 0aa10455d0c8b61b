"""Parked checkpoints: an unfinished training carried from one machine to the next through git.

A medium or paper training can outlive the machine that runs it (a session's processes end with it, and
``runs/`` is not committed). :func:`park` copies a run's ``latest.pt`` and ``best.pt`` into
``parked/<profile>/<run_id>/`` with their SHA-256 in ``parked/<profile>/SHA256SUMS``; commit that folder.
A later ``train --resume`` on a fresh clone calls :func:`unpark`, which restores them (checksums verified)
when the run has no newer checkpoint of its own. :func:`checkpoints.publish` removes the parked copy once
the run is finished (the published weights replace it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import places
from . import checkpoints
from .checkpoints import MANIFEST, checkpoint_paths, load_checkpoint, read_manifest, sha256, write_manifest
from .config import Config
from .errors import CheckpointError
from .results import profile_of

FILES = ("latest.pt", "best.pt")


def parked_dir(cfg: Config) -> Path:
    return places.parked_dir(profile_of(cfg)) / cfg.run_id


def _manifest_path(cfg: Config) -> Path:
    return parked_dir(cfg).parent / MANIFEST


def _read_manifest(cfg: Config) -> dict[str, str]:
    return read_manifest(parked_dir(cfg).parent)


def _write_manifest(cfg: Config, sums: dict[str, str]) -> None:
    write_manifest(parked_dir(cfg).parent, sums)


def parked(cfg: Config) -> bool:
    """Whether the run has a parked checkpoint."""
    return (parked_dir(cfg) / "latest.pt").is_file()


def _epoch(path: Path) -> int:
    return int(load_checkpoint(path)["epoch"]) if path.is_file() else 0


def park(cfg: Config) -> dict:
    """Copy the run's checkpoints into ``parked/``; returns the epoch parked and the files."""
    src = checkpoint_paths(cfg)
    if not src["latest"].is_file():
        raise CheckpointError(f"{cfg.name}: nothing to park, {src['latest']} does not exist (train it first)")
    state = load_checkpoint(src["latest"])
    if state.get("train_key") != cfg.train_key():
        raise CheckpointError(f"{src['latest']} belongs to another config than {cfg.name!r}; nothing parked")
    out, sums = parked_dir(cfg), _read_manifest(cfg)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name in FILES:
        if (src["dir"] / name).is_file():
            tmp = places.temp_for(out / name)
            shutil.copyfile(src["dir"] / name, tmp)
            tmp.replace(out / name)
            sums[f"{cfg.run_id}/{name}"] = sha256(out / name)
            files.append(str(out / name))
    _write_manifest(cfg, sums)
    return {"run_id": cfg.run_id, "epoch": int(state["epoch"]), "files": files}


def unpark(cfg: Config) -> int:
    """Restore parked checkpoints into ``runs/`` when they are newer than the run's own; returns the
    epoch restored (0 when nothing was). A parked file that fails its checksum is an error, not skipped."""
    src, dst = parked_dir(cfg), checkpoint_paths(cfg)
    if not (src / "latest.pt").is_file():
        return 0
    sums = _read_manifest(cfg)
    for name in FILES:
        f = src / name
        if f.is_file() and sums.get(f"{cfg.run_id}/{name}") != sha256(f):
            raise CheckpointError(f"{f} does not match {_manifest_path(cfg)}; restore it with git checkout")
    parked_epoch = _epoch(src / "latest.pt")
    if parked_epoch <= _epoch(dst["latest"]):
        return 0
    dst["dir"].mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst["dir"] / name)
    return parked_epoch


drop = checkpoints.drop_parked  # one place: ``publish`` calls it too
