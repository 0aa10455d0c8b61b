"""Lossless image arrays: a folder with ``train.npz`` and ``test.npz`` (and optionally ``SHA256SUMS``).

Each file holds ``x``: uint8 ``[N, H, W, C]`` and ``y``: integer labels in ``[0, K)``; an optional
``classes`` array names the classes. This is how the shared lossless CIFAR-10 is stored (every pixel as
in the original release). Phase coding turns every bit of a pixel into a spike (paper Section 4.1), so
the low-order bits that a JPEG copy changes are exactly what an 8/255 attack changes: anything measured
reads these arrays, not a JPEG copy.

:func:`read_split` checks what it reads and names the file in every error: a missing file, a checksum
that does not match ``SHA256SUMS``, a wrong shape or dtype, or a label outside the class range.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import torch

from .errors import DataNotFoundError, SnnlibError

SPLIT_FILES = {True: "train.npz", False: "test.npz"}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_VERIFIED: dict[tuple, str] = {}  # (path, size, mtime) -> sha256, so a file is hashed once per process


def is_npz_folder(path) -> bool:
    """Whether ``path`` holds ``train.npz`` and ``test.npz``."""
    path = Path(path)
    return all((path / f).is_file() for f in SPLIT_FILES.values())


def sha256(path: Path) -> str:
    """The SHA-256 of a file (hashed once per process while its size and mtime stay the same)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def expected_sums(folder: Path) -> dict[str, str]:
    """``file name -> sha256`` from ``folder/SHA256SUMS`` (``sha256sum``'s format), or {} without one."""
    f = folder / "SHA256SUMS"
    if not f.is_file():
        return {}
    out = {}
    for n, line in enumerate(f.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise SnnlibError(f"{f}, line {n}: expected '<sha256>  <file name>', got {line!r}")
        out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def verify(path: Path) -> str:
    """The file's SHA-256, checked against its folder's ``SHA256SUMS`` when that lists it."""
    digest = sha256(path)
    want = expected_sums(path.parent).get(path.name)
    if want is not None and want != digest:
        raise SnnlibError(
            f"{path}: SHA-256 {digest[:16]}… does not match {want[:16]}… in "
            f"{path.parent / 'SHA256SUMS'}; the file is damaged or not the one listed there"
        )
    return digest


def _check_arrays(path: Path, x: np.ndarray, y: np.ndarray, num_classes: int | None) -> None:
    if x.dtype != np.uint8:
        raise SnnlibError(f"{path}: 'x' must be uint8 pixels (0..255), got dtype {x.dtype}")
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise SnnlibError(f"{path}: 'x' must have shape [N, H, W, C] with C = 1 or 3, got {tuple(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise SnnlibError(f"{path}: 'y' must have shape [N] = [{len(x)}] (one label per image), got {tuple(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise SnnlibError(f"{path}: 'y' must hold integer labels, got dtype {y.dtype}")
    if len(y) and (int(y.min()) < 0 or (num_classes is not None and int(y.max()) >= num_classes)):
        raise SnnlibError(f"{path}: labels must lie in [0, {num_classes}), got [{int(y.min())}, {int(y.max())}]")


def _open(path: Path) -> tuple[np.ndarray, np.ndarray, list | None]:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"x", "y"} - set(f.files)
            if missing:
                raise SnnlibError(
                    f"{path}: expected arrays 'x' (images) and 'y' (labels), "
                    f"missing {sorted(missing)}; found {sorted(f.files)}"
                )
            classes = [str(c) for c in f["classes"]] if "classes" in f.files else None
            return f["x"], f["y"], classes
    except (OSError, ValueError) as e:
        if isinstance(e, SnnlibError):
            raise
        raise SnnlibError(f"{path} is not a readable .npz file ({type(e).__name__}: {e})") from None


def read_split(folder, train: bool, num_classes: int | None = None):
    """``(images uint8 [N,C,H,W], targets, classes, sha256)`` of one split of an npz folder."""
    folder = Path(folder).expanduser()
    path = folder / SPLIT_FILES[bool(train)]
    if not path.is_file():
        raise DataNotFoundError(
            f"{path} does not exist; an npz data folder holds train.npz and test.npz, "
            f"each with 'x' (uint8 [N, H, W, C]) and 'y' (labels)"
        )
    st = path.stat()
    images, targets, classes, digest = _read(str(path.resolve()), st.st_size, st.st_mtime_ns, num_classes)
    return images, targets, list(classes), digest


@functools.lru_cache(maxsize=4)
def _read(path: str, size: int, mtime_ns: int, num_classes: int | None):
    """One split, read, checked and converted once per process while the file stays the same (its size and mtime
    are in the key): a run loads its data many times (each split, each stage). The tensors are shared between
    callers, who index them (a copy) and never write into them."""
    path = Path(path)
    digest = verify(path)
    x, y, classes = _open(path)
    _check_arrays(path, x, y, num_classes)
    k = num_classes or (int(y.max()) + 1 if len(y) else 0)
    if classes is None:
        classes = CIFAR10_CLASSES if k == 10 else [str(i) for i in range(k)]
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return images, torch.from_numpy(y.astype(np.int64)), tuple(classes), digest
