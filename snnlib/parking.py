"""Parked work: an unfinished training, or an unfinished audit, carried from one machine to the next through git.

A medium or paper training can outlive the machine that runs it (a session's processes end with it, and
``runs/`` is not committed). :func:`park` copies a run's ``latest.pt`` and ``best.pt`` into
``parked/<profile>/<run_id>/`` with their SHA-256 in ``parked/<profile>/SHA256SUMS``; commit that folder.
A later ``train --resume`` on a fresh clone calls :func:`unpark`, which restores them (checksums verified)
when the run has no newer checkpoint of its own. :func:`checkpoints.publish` removes the parked copy once
the run is finished (the published weights replace it).

An audit of a finished model (about an hour of CPU at medium) writes a partial file after every finished
check (``results/<profile>/<run_id>/audit-*.partial.json``, ignored by git). :func:`park` carries those too;
the audit restores them (:func:`unpark_audits`) when they hold more finished checks than its own, and drops
them (:func:`drop_audit`) once it has written its result.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import places
from . import checkpoints
from .checkpoints import (
    MANIFEST,
    PARKED_CHECKPOINTS,
    checkpoint_paths,
    load_checkpoint,
    read_manifest,
    sha256,
    write_manifest,
)
from .config import Config
from .errors import CheckpointError
from . import results
from .results import profile_of

FILES = PARKED_CHECKPOINTS


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


def _to_park(cfg: Config) -> tuple[list[Path], int | None]:
    """The files :func:`park` copies (an unfinished training's checkpoints, the audits' partial files) and the
    epoch of the checkpoints (None when only audits are parked)."""
    src, out = checkpoint_paths(cfg), results.run_dir(cfg)
    audits = sorted(out.glob("*.partial.json"))
    trained = (out / "train.json").is_file() and results.read_json(out / "train.json").get("complete")
    if trained or not src["latest"].is_file():
        if not audits:
            raise CheckpointError(
                f"{cfg.name}: nothing to park, {src['latest']} does not exist (train it first) and no audit of it "
                "is under way"
            )
        return audits, None
    state = load_checkpoint(src["latest"])
    if state.get("train_key") != cfg.train_key():
        raise CheckpointError(f"{src['latest']} belongs to another config than {cfg.name!r}; nothing parked")
    return [src["dir"] / n for n in FILES if (src["dir"] / n).is_file()] + audits, int(state["epoch"])


def park(cfg: Config) -> dict:
    """Copy the run's unfinished work into ``parked/``; returns the epoch parked (None when the training is
    finished), the files and the audits parked."""
    files, epoch = _to_park(cfg)
    out, sums = parked_dir(cfg), _read_manifest(cfg)
    out.mkdir(parents=True, exist_ok=True)
    for f in files:
        tmp = places.temp_for(out / f.name)
        shutil.copyfile(f, tmp)
        tmp.replace(out / f.name)
        sums[f"{cfg.run_id}/{f.name}"] = sha256(out / f.name)
    _write_manifest(cfg, sums)
    audits = [f.name for f in files if f.name.endswith(".partial.json")]
    return {"run_id": cfg.run_id, "epoch": epoch, "files": [str(out / f.name) for f in files], "audits": audits}


def _verified(cfg: Config, f: Path) -> Path:
    if _read_manifest(cfg).get(f"{cfg.run_id}/{f.name}") != sha256(f):
        raise CheckpointError(f"{f} does not match {_manifest_path(cfg)}; restore it with git checkout")
    return f


def unpark(cfg: Config) -> int:
    """Restore parked checkpoints into ``runs/`` when they are newer than the run's own; returns the
    epoch restored (0 when nothing was). A parked file that fails its checksum is an error, not skipped."""
    src, dst = parked_dir(cfg), checkpoint_paths(cfg)
    if not (src / "latest.pt").is_file():
        return 0
    for name in FILES:
        if (src / name).is_file():
            _verified(cfg, src / name)
    parked_epoch = _epoch(src / "latest.pt")
    if parked_epoch <= _epoch(dst["latest"]):
        return 0
    dst["dir"].mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst["dir"] / name)
    return parked_epoch


def _done(path: Path) -> int:
    return len(results.read_json(path).get("done", [])) if path.is_file() else -1


def unpark_audits(cfg: Config) -> list[str]:
    """Restore the run's parked audit partial files into its results folder where they hold more finished
    checks than the local ones (a reuse note, where the local one is missing); returns the names restored."""
    src, dst = parked_dir(cfg), results.run_dir(cfg)
    restored = []
    for f in sorted(src.glob("*.partial.json")) if src.is_dir() else []:
        mine = dst / f.name
        newer = not mine.exists() if f.name.endswith(".reused.partial.json") else _done(f) > _done(mine)
        if newer:
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_verified(cfg, f), mine)
            restored.append(f.name)
    return restored


def drop_audit(cfg: Config, partial: str) -> bool:
    """Remove a finished audit's parked partial file and its reuse note."""
    return checkpoints.drop_parked(cfg, (partial, partial.replace(".partial.json", ".reused.partial.json")))


drop = checkpoints.drop_parked  # one place: ``publish`` calls it too
