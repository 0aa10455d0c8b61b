"""Datasets: CIFAR-10/100 (torchvision), CIFAR10-DVS (tonic), any ImageFolder tree.

Everything is held in memory as an :class:`ImageSet`: 8-bit images
``[N,C,H,W]`` (or DVS frames ``[N,T,C,H,W]``) and labels. Items come out as
floats in [0, 1], as the paper preprocesses (Section 4.1); the random
horizontal flip of training is applied per batch by :func:`random_flip`.

Names accepted by :func:`load_dataset`:

- ``cifar10``, ``cifar100``: the lossless arrays ``train.npz``/``test.npz``
  under ``root`` when it holds them (:mod:`snnlib.npz`, checksums verified
  against ``SHA256SUMS``), else torchvision's files there (downloaded when
  online). If ``root`` is instead an ImageFolder tree with the right number of
  classes (such as the lossy ``cifar10-jpeg`` copy), that tree is used, and the
  set's ``source`` and ``pixels`` say so. The same name thus follows
  ``SNNLIB_DATA``, and what was read is recorded in every result
  (:meth:`ImageSet.provenance`); a config's ``data.pixels`` says which kind it
  must be, so a lossless config never silently reads a JPEG copy.
- ``npz:<path>``: the lossless arrays in an explicit folder.
- ``imagefolder:<path>``: any tree ``<path>/train/<class>/*`` and
  ``<path>/test/<class>/*``; classes are the sorted folder names.
- ``cifar10-dvs``: tonic's CIFAR10-DVS under ``root``. The events of each
  sample are cut into T=10 frames with equal event counts (2 polarity
  channels), on a ``frame_size`` x ``frame_size`` grid (default 48, the size
  SNN-RAT uses). The split is per class and fixed: the first 90 % of each
  class's samples (tonic's order) train, the last 10 % test. Frames are event
  counts; the network sees them divided by the sample's largest count, so
  they lie in [0, 1] (this is also the input the DVS attacks perturb).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import npz, places
from .errors import DataNotFoundError, SnnlibError, check_choice

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
LOSSY_EXTENSIONS = (".jpg", ".jpeg", ".webp")
#: what a data set's pixels are: the original values, or a lossy (JPEG) re-encoding of them
PIXELS = ("lossless", "jpeg")
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "cifar10-dvs": 10}
DVS_T = 10
DVS_FRAME_SIZE = 48
DVS_SENSOR = (128, 128, 2)


@dataclass
class ImageSet(torch.utils.data.Dataset):
    """Images ``uint8 [N,C,H,W]`` (or frames ``[N,T,C,H,W]``) and labels, held in memory.

    ``ds[i]`` returns ``(float image in [0,1], label)``.
    """

    images: torch.Tensor
    targets: torch.Tensor
    classes: list
    source: str = ""
    scale: torch.Tensor | None = field(default=None, repr=False)
    pixels: str = "lossless"  # or "jpeg": a lossy re-encoding of the original pixels
    sha256: str = ""  # of the source file (npz), else of the decoded uint8 pixels and labels

    def provenance(self) -> dict:
        """What a result was computed on: the source, whether its pixels are lossless, and a checksum."""
        return {"source": self.source, "pixels": self.pixels, "sha256": self.sha256}

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        x = self.images[i].float()
        return (x / 255.0 if self.scale is None else x / self.scale[i]), int(self.targets[i])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch ``(x, y)`` for integer indices, without per-item Python work."""
        x = self.images[idx].float()
        x = x / 255.0 if self.scale is None else x / self.scale[idx].view(-1, *([1] * (x.dim() - 1)))
        return x, self.targets[idx]

    def __getitems__(self, idx):  # batched fetch for torch's DataLoader
        return self.batch(torch.as_tensor(idx, dtype=torch.long))

    def subset(self, idx) -> "ImageSet":
        idx = torch.as_tensor(idx, dtype=torch.long)
        scale = None if self.scale is None else self.scale[idx]
        return ImageSet(self.images[idx], self.targets[idx], self.classes, self.source, scale, self.pixels, self.sha256)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def stratified_indices(targets: torch.Tensor, n_per_class: int | None, seed: int) -> torch.Tensor:
    """A seeded subset with ``n_per_class`` items of every class (all if None), in sorted order."""
    if n_per_class is None:
        return torch.arange(len(targets))
    g = torch.Generator().manual_seed(int(seed))
    keep = []
    for c in torch.unique(targets):
        idx = torch.nonzero(targets == c).flatten()
        if n_per_class > len(idx):
            raise SnnlibError(f"n_per_class={n_per_class} but class {int(c)} has only {len(idx)} items")
        keep.append(idx[torch.randperm(len(idx), generator=g)[:n_per_class]])
    return torch.sort(torch.cat(keep)).values


def split_train_val(ds: ImageSet, val_fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Carve a seeded, stratified validation split out of a training set."""
    if not 0 <= val_fraction < 1:
        raise SnnlibError(f"val_fraction must be in [0, 1), got {val_fraction}")
    g = torch.Generator().manual_seed(int(seed) + 1)
    val = []
    for c in torch.unique(ds.targets):
        idx = torch.nonzero(ds.targets == c).flatten()
        n = int(round(val_fraction * len(idx)))
        val.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    val = torch.sort(torch.cat(val)).values
    mask = torch.ones(len(ds), dtype=torch.bool)
    mask[val] = False
    return ds.subset(torch.nonzero(mask).flatten()), ds.subset(val)


def batches(data, batch_size: int):
    """``(x, y)`` batches, in order, of an :class:`ImageSet` or of a pair of tensors ``(x, y)``."""
    if isinstance(data, (tuple, list)):
        x, y = data
        for i in range(0, len(y), batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]
    else:
        for i in range(0, len(data), batch_size):
            yield data.batch(torch.arange(i, min(i + batch_size, len(data))))


def n_batches(data, batch_size: int) -> int:
    return -(-len(data[1] if isinstance(data, (tuple, list)) else data) // batch_size)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random horizontal flip of each sample with p=0.5 (last dim is width)."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    if flip.any():
        x = x.clone()
        x[flip] = x[flip].flip(-1)
    return x


# --------------------------------------------------------------------- loading


def dataset_kind(name: str) -> str:
    """The kind of a dataset name (``cifar10``, ``cifar100``, ``cifar10-dvs``, ``imagefolder``); errors for others."""
    if not isinstance(name, str):
        raise SnnlibError(f"dataset name must be a string, got {name!r}")
    if name.startswith("imagefolder:"):
        if not name[len("imagefolder:") :]:
            raise SnnlibError("imagefolder needs a path: 'imagefolder:<path>' with train/<class>/ and test/<class>/")
        return "imagefolder"
    if name.startswith("npz:"):
        if not name[len("npz:") :]:
            raise SnnlibError("npz needs a path: 'npz:<folder>' with train.npz and test.npz")
        return "npz"
    if name not in NUM_CLASSES:
        raise SnnlibError(
            f"unknown dataset {name!r}; expected one of: cifar10, cifar100, cifar10-dvs, imagefolder:<path>, "
            f"npz:<folder>"
        )
    return name


def is_imagefolder(path: Path) -> bool:
    path = Path(path)
    return all((path / s).is_dir() and any(d.is_dir() for d in (path / s).iterdir()) for s in ("train", "test"))


def _cache_file(cache_dir: Path | None, key: str) -> Path | None:
    if cache_dir is None:
        return None
    return Path(cache_dir) / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"


def _cached(cache_dir, key, make):
    """Load a decoded dataset from the cache, or make it and store it (atomically)."""
    f = _cache_file(cache_dir, key)
    if f is not None and f.exists():
        try:
            d = torch.load(f, weights_only=True)
            return d["images"], d["targets"], d["classes"], d.get("scale")
        except Exception:
            f.unlink(missing_ok=True)
    images, targets, classes, scale = make()
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = places.temp_for(f)
        torch.save({"images": images, "targets": targets, "classes": classes, "scale": scale}, tmp)
        tmp.replace(f)
    return images, targets, classes, scale


def _read_imagefolder(split_dir: Path):
    from torchvision.io import ImageReadMode, decode_image

    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    images, targets = [], []
    for c, name in enumerate(classes):
        files = sorted(f for f in (split_dir / name).iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        for f in files:
            data = torch.frombuffer(bytearray(f.read_bytes()), dtype=torch.uint8)
            images.append(decode_image(data, mode=ImageReadMode.RGB))
            targets.append(c)
    if not images:
        raise DataNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {split_dir}/<class>/")
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) != 1:
        raise SnnlibError(f"images under {split_dir} differ in size: {sorted(shapes)[:3]}; resize them first")
    return torch.stack(images), torch.tensor(targets), classes, None


def _load_imagefolder(path: Path, train: bool, cache_dir):
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(
            f"data folder {path} does not exist; expected an ImageFolder tree {path}/train/<class>/ and "
            f"{path}/test/<class>/ (set SNNLIB_DATA or the dataset name 'imagefolder:<path>')"
        )
    split = path / ("train" if train else "test")
    if not split.is_dir():
        raise DataNotFoundError(
            f"{split} is missing; an ImageFolder tree needs {path}/train/<class>/ and {path}/test/<class>/"
        )
    stamp = sum(f.stat().st_mtime_ns for f in split.iterdir())
    key = f"imagefolder|{split.resolve()}|{stamp}"
    return _cached(cache_dir, key, lambda: _read_imagefolder(split)), f"imagefolder:{path}"


def _load_torchvision(name: str, root: Path, train: bool, cache_dir):
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        try:
            ds = cls(str(root), train=train, download=True)
        except Exception as e:  # offline: URLError, socket errors, ...
            raise DataNotFoundError(
                f"{name} is not in {root} and could not be downloaded ({type(e).__name__}: {e}). "
                f"Either download it on a machine with internet into that folder (torchvision's "
                f"'{cls.base_folder}'), or set SNNLIB_DATA to a folder with the lossless arrays train.npz and "
                f"test.npz (e.g. ../shared/data/cifar10-npz for CIFAR-10), or to an ImageFolder tree."
            ) from None
    images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
    return (images, torch.tensor(ds.targets), list(ds.classes), None), f"torchvision:{name}:{root}"


def events_to_frames(
    events: np.ndarray, T: int = DVS_T, frame_size: int = DVS_FRAME_SIZE, sensor_size: tuple = DVS_SENSOR
) -> np.ndarray:
    """Cut an event stream into ``T`` frames of equal event count: ``int16 [T, 2, frame_size, frame_size]``.

    ``events`` is a structured array with fields ``t, x, y, p`` (tonic's
    layout). Coordinates are scaled from ``sensor_size`` to the frame grid
    (tonic's ``Downsample``), then binned by event count (tonic's ``ToFrame``
    with ``n_event_bins=T``).
    """
    import tonic.transforms as tt

    if (
        not isinstance(events, np.ndarray)
        or events.dtype.names is None
        or not {"t", "x", "y", "p"} <= set(events.dtype.names)
    ):
        raise SnnlibError("events must be a numpy structured array with fields t, x, y, p (tonic's layout)")
    if len(events) < T:
        raise SnnlibError(f"an event stream needs at least T={T} events to cut into T frames, got {len(events)}")
    W, H, P = sensor_size
    down = tt.Downsample(spatial_factor=(frame_size / W, frame_size / H))
    ev = down(events)
    ev["x"] = np.minimum(ev["x"], frame_size - 1)
    ev["y"] = np.minimum(ev["y"], frame_size - 1)
    frames = tt.ToFrame(sensor_size=(frame_size, frame_size, P), n_event_bins=T)(ev)
    return frames.astype(np.int16)


def _load_dvs(root: Path, train: bool, cache_dir, frame_size: int = DVS_FRAME_SIZE, T: int = DVS_T):
    try:
        import tonic
    except ImportError:
        raise SnnlibError("CIFAR10-DVS needs tonic: pip install -e '.[dvs]'") from None

    def make():
        try:
            ds = tonic.datasets.CIFAR10DVS(save_to=str(root))
        except Exception as e:
            raise DataNotFoundError(
                f"CIFAR10-DVS is not in {root} and could not be downloaded ({type(e).__name__}: {e}). "
                f"Download {tonic.datasets.CIFAR10DVS.url} on a machine with internet and unpack it "
                f"into {root}/CIFAR10DVS/ (tonic's layout), then point SNNLIB_DATA there."
            ) from None
        targets = np.asarray(ds.targets)
        frames, keep = [], dvs_split(targets, train)
        for i in keep:
            events, _ = ds[int(i)]
            frames.append(torch.from_numpy(events_to_frames(events, T, frame_size)))
        images = torch.stack(frames)
        return images, torch.as_tensor(targets[keep]), list(ds.classes), dvs_scale(images)

    key = f"cifar10-dvs|{Path(root).resolve()}|{train}|{frame_size}|{T}"
    return _cached(cache_dir, key, make), f"tonic:cifar10-dvs:{root}"


def dvs_split(targets: np.ndarray, train: bool, train_fraction: float = 0.9) -> np.ndarray:
    """Fixed per-class 9:1 split: first 90 % of each class (in order) train, rest test."""
    keep = []
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        n = int(round(train_fraction * len(idx)))
        keep.append(idx[:n] if train else idx[n:])
    return np.sort(np.concatenate(keep))


def dvs_scale(frames: torch.Tensor) -> torch.Tensor:
    """Per-sample normaliser: the largest event count in the sample (at least 1)."""
    return frames.flatten(1).amax(1).clamp_min(1).float()


def pixel_digest(images: torch.Tensor, targets: torch.Tensor) -> str:
    """SHA-256 of decoded uint8 pixels and labels: the checksum of a source without a file of its own."""
    h = hashlib.sha256(images.contiguous().numpy().tobytes())
    h.update(targets.to(torch.int64).numpy().tobytes())
    return h.hexdigest()


def _tree_pixels(path: Path) -> str:
    """``jpeg`` if an ImageFolder tree holds lossy files (.jpg, .jpeg, .webp), else ``lossless``."""
    for split in ("train", "test"):
        for d in sorted(p for p in (path / split).iterdir() if p.is_dir()):
            f = next(iter(sorted(d.iterdir())), None)
            if f is not None and f.suffix.lower() in LOSSY_EXTENSIONS:
                return "jpeg"
    return "lossless"


def _load_root(kind: str, root: Path, train: bool, cache_dir):
    """A named dataset from ``root``: its npz arrays, an ImageFolder tree there, or torchvision's files."""
    if npz.is_npz_folder(root):
        images, targets, classes, digest = npz.read_split(root, train, NUM_CLASSES[kind])
        return (images, targets, classes, None), f"npz:{root}", "lossless", digest
    if is_imagefolder(root):
        loaded, source = _load_imagefolder(root, train, cache_dir)
        if len(loaded[2]) != NUM_CLASSES[kind]:
            raise SnnlibError(
                f"{root} is an ImageFolder tree with {len(loaded[2])} classes, but {kind} has "
                f"{NUM_CLASSES[kind]}; point SNNLIB_DATA at the right data"
            )
        return loaded, source, _tree_pixels(root), ""
    loaded, source = _load_torchvision(kind, root, train, cache_dir)
    return loaded, source, "lossless", ""


def _load_any(name: str, root: Path, train: bool, cache_dir):
    """``(loaded, source, pixels, sha256)`` of a dataset name (see :func:`load_dataset`)."""
    kind = dataset_kind(name)
    if kind == "imagefolder":
        path = Path(name[len("imagefolder:") :]).expanduser()
        loaded, source = _load_imagefolder(path, train, cache_dir)
        return loaded, source, _tree_pixels(path), ""
    if kind == "npz":
        images, targets, classes, digest = npz.read_split(name[len("npz:") :], train)
        return (images, targets, classes, None), name, "lossless", digest
    if kind == "cifar10-dvs":
        return (*_load_dvs(root, train, cache_dir), "lossless", "")
    return _load_root(kind, root, train, cache_dir)


def check_pixels(ds: "ImageSet", pixels: str | None, name: str) -> None:
    """Fail when a data set's pixels are not the kind a config asked for (``data.pixels``)."""
    if pixels is None:
        return
    check_choice("data.pixels", pixels, PIXELS)
    if ds.pixels != pixels:
        hint = (
            "point SNNLIB_DATA at the lossless arrays (e.g. ../shared/data/cifar10-npz)"
            if pixels == "lossless"
            else "add the JPEG ImageFolder copy to SNNLIB_DATA (e.g. ../shared/data/cifar10-npz:../shared/data/cifar10-jpeg)"
        )
        raise SnnlibError(
            f"the config asks for {pixels} pixels (data.pixels), but {name} was read from "
            f"{ds.source}, whose pixels are {ds.pixels}; {hint}"
        )


def _root_pixels(root: Path) -> str | None:
    """The kind of pixels a data folder holds, without reading it: npz arrays or torchvision's files are lossless,
    an ImageFolder tree is whatever its files are (None: neither is there)."""
    if npz.is_npz_folder(root):
        return "lossless"
    return _tree_pixels(root) if is_imagefolder(root) else None


def _pick_root(roots: list[Path], pixels: str | None) -> Path:
    """The first of several data folders whose pixels are of the kind asked for (else the first folder, so that its
    own error says what is wrong)."""
    if pixels is None or len(roots) == 1:
        return roots[0]
    return next((r for r in roots if _root_pixels(r) == pixels), roots[0])


def load_dataset(
    name: str,
    root: str | Path | None = None,
    train: bool = True,
    n_per_class: int | None = None,
    seed: int = 3407,
    cache_dir: str | Path | None = None,
    pixels: str | None = None,
) -> ImageSet:
    """Load a dataset into memory (paper Section 4.1: pixels in [0, 1]).

    Args:
        name: ``cifar10``, ``cifar100``, ``cifar10-dvs``, ``npz:<folder>`` or ``imagefolder:<path>``.
        root: where to look (default: ``SNNLIB_DATA``, else ``<project>/data``).
        train: training or test split.
        n_per_class: seeded, stratified subset size per class (None: all).
        seed: subset seed.
        cache_dir: where decoded tensors are cached (default ``<project>/runs/cache``; None disables).
        pixels: ``lossless`` or ``jpeg``: fail unless the data read are of that kind (None: no check).
    """
    root = _pick_root(places.data_roots(), pixels) if root is None else Path(root).expanduser()
    cache_dir = places.cache_dir() if cache_dir is None else cache_dir
    (images, targets, classes, scale), source, kind_of_pixels, digest = _load_any(name, root, train, cache_dir)
    ds = ImageSet(
        images, targets.long(), list(classes), source, scale, kind_of_pixels, digest or pixel_digest(images, targets)
    )
    check_pixels(ds, pixels, name)
    if n_per_class is not None:
        ds = ds.subset(stratified_indices(ds.targets, int(n_per_class), seed))
    return ds
