"""Checkpoints and the model zoo: atomic saves, safe loads, and committed weights with checksums.

A training run keeps ``latest.pt`` (for ``--resume``) and ``best.pt`` under
``runs/<profile>/<run_id>/``; neither is committed. :func:`publish` copies a finished run's
best weights into ``models/<profile>/<run_id>.pt`` (the zoo, committed for the medium profile)
and records their SHA-256 in ``models/<profile>/SHA256SUMS`` (``sha256sum -c`` reads it).
:func:`load_trained` uses the run's own checkpoint when it exists, else the zoo's file, after
checking its checksum. Everything is loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from . import places
from .build import build_classifier
from .config import Config
from .errors import CheckpointError
from .models import SpikingClassifier
from .results import profile_of

CHECKPOINT_FORMAT = "snnlib-checkpoint/1"
WEIGHTS_FORMAT = "snnlib-weights/1"
MANIFEST = "SHA256SUMS"
PARKED_CHECKPOINTS = ("latest.pt", "best.pt")  # what :mod:`snnlib.parking` carries of an unfinished training


def save_checkpoint(path: Path, state: dict, fmt: str = CHECKPOINT_FORMAT) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = places.temp_for(path)
    torch.save({"format": fmt, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location="cpu", fmt: str = CHECKPOINT_FORMAT) -> dict:
    """Load a file written by :func:`save_checkpoint`; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist (train the config first: python -m snnlib train CONFIG)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"checkpoint {path} could not be read; it is truncated, corrupted or not a torch file "
            f"({type(e).__name__}). Delete it and train again, or resume from the other checkpoint."
        ) from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise CheckpointError(f"{path} is not an snnlib checkpoint (expected format {fmt!r})")
    return state


def checkpoint_paths(cfg: Config) -> dict[str, Path]:
    d = places.runs_dir() / profile_of(cfg) / cfg.run_id
    return {"latest": d / "latest.pt", "best": d / "best.pt", "dir": d}


def zoo_path(cfg: Config) -> Path:
    """Where the committed weights of a config live: ``models/<profile>/<run_id>.pt``."""
    return places.zoo_dir(profile_of(cfg)) / f"{cfg.run_id}.pt"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path, sums: dict[str, str]) -> None:
    """``folder/SHA256SUMS`` listing ``sums`` (name -> digest) in ``sha256sum -c`` form; removed when empty."""
    f = Path(folder) / MANIFEST
    if not sums:
        f.unlink(missing_ok=True)
        return
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("".join(f"{d}  {n}\n" for n, d in sorted(sums.items())))


def read_manifest(folder: Path) -> dict[str, str]:
    """The name -> digest lines of ``folder/SHA256SUMS`` (empty when it does not exist)."""
    f = Path(folder) / MANIFEST
    if not f.is_file():
        return {}
    return {name.strip(): digest for digest, name in (ln.split(maxsplit=1) for ln in f.read_text().splitlines() if ln)}


def publish(cfg: Config) -> Path:
    """Copy a finished run's best weights into the zoo and record their SHA-256 in the manifest. In a clone
    that did not train the run (no checkpoint) the committed weights stand, once their checksum is verified."""
    best, out = checkpoint_paths(cfg)["best"], zoo_path(cfg)
    if not best.is_file() and out.is_file():
        _zoo_state(cfg, "cpu")  # raises if the committed file does not match its manifest
        return out
    state = load_checkpoint(best)
    keep = {k: state[k] for k in ("train_key", "num_classes", "in_channels", "epoch", "model")}
    if out.is_file() and _same_weights(out, keep):
        return out  # published already: rewriting would change the file's bytes (and its checksum), not its weights
    save_checkpoint(out, {"run_id": cfg.run_id, "config": cfg.to_dict(), **keep}, fmt=WEIGHTS_FORMAT)
    sums = read_manifest(out.parent)
    sums[out.name] = sha256(out)
    write_manifest(out.parent, sums)
    drop_parked(cfg)  # the published weights replace a parked, unfinished copy
    return out


def drop_parked(cfg: Config, names=PARKED_CHECKPOINTS) -> bool:
    """Remove files of a run's parked copy (:mod:`snnlib.parking`; by default its checkpoints, not its
    unfinished audits) and their manifest lines, and the folder once empty; whether there was any."""
    folder = places.parked_dir(profile_of(cfg))
    there = [folder / cfg.run_id / n for n in names if (folder / cfg.run_id / n).is_file()]
    for f in there:
        f.unlink()
    gone = {f"{cfg.run_id}/{n}" for n in names}
    if there:
        write_manifest(folder, {k: v for k, v in read_manifest(folder).items() if k not in gone})
    if (folder / cfg.run_id).is_dir() and not any((folder / cfg.run_id).iterdir()):
        (folder / cfg.run_id).rmdir()
    return bool(there)


def _same_weights(path: Path, keep: dict) -> bool:
    """Whether the published file at ``path`` (listed in its manifest, checksum intact) holds exactly ``keep``."""
    want = read_manifest(path.parent).get(path.name)
    if want is None or sha256(path) != want:
        return False
    old = load_checkpoint(path, "cpu", fmt=WEIGHTS_FORMAT)
    same_meta = all(old.get(k) == keep[k] for k in ("train_key", "num_classes", "in_channels", "epoch"))
    return (
        same_meta
        and old["model"].keys() == keep["model"].keys()
        and all(torch.equal(old["model"][k].cpu(), v.cpu()) for k, v in keep["model"].items())
    )


def _zoo_state(cfg: Config, device) -> dict:
    path = zoo_path(cfg)
    want = read_manifest(path.parent).get(path.name)
    if want is None:
        raise CheckpointError(f"{path} is not listed in {path.parent / MANIFEST}; publish it again")
    if sha256(path) != want:
        raise CheckpointError(
            f"{path} does not match its SHA-256 in {path.parent / MANIFEST} (corrupted or "
            f"edited); restore it with git checkout"
        )
    return load_checkpoint(path, device, fmt=WEIGHTS_FORMAT)


def load_trained(cfg: Config, which: str = "best", device="cpu", checkpoint: Path | None = None) -> SpikingClassifier:
    """The trained classifier of a config: its ``best``/``latest`` checkpoint, a given file, or, when the
    run's checkpoints are absent, the zoo's committed weights (checksum verified)."""
    path = Path(checkpoint) if checkpoint else checkpoint_paths(cfg)[which]
    if checkpoint is None and which == "best" and not path.exists() and zoo_path(cfg).exists():
        state, path = _zoo_state(cfg, device), zoo_path(cfg)
    else:
        state = load_checkpoint(path, map_location=device)
    if checkpoint is None and state.get("train_key") != cfg.train_key():
        raise CheckpointError(f"{path} was trained with another config (train_key differs); train again with --force")
    model = build_classifier(cfg, state["num_classes"], state["in_channels"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit config {cfg.name!r}: {str(e).splitlines()[0]}") from None
    return model.to(device).eval()
