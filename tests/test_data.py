import urllib.error

import numpy as np
import pytest
import torch

from snnlib import data
from snnlib.data import events_to_frames, load_dataset, random_flip, split_train_val, stratified_indices
from snnlib.errors import DataNotFoundError, SnnlibError


@pytest.fixture
def tiny_tree(tmp_path):
    """A 3-class ImageFolder tree of 16x16 PNGs: 6 train and 2 test images per class."""
    from torchvision.io import write_png

    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 6), ("test", 2)):
        for c in ("cat", "ant", "bee"):
            d = tmp_path / "tree" / split / c
            d.mkdir(parents=True)
            for i in range(n):
                write_png(torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8, generator=g), str(d / f"{i}.png"))
    return tmp_path / "tree"


def test_imagefolder(tiny_tree, tmp_path):
    ds = load_dataset(f"imagefolder:{tiny_tree}", cache_dir=tmp_path / "cache")
    assert len(ds) == 18 and ds.classes == ["ant", "bee", "cat"]
    x, y = ds[0]
    assert x.shape == (3, 16, 16) and 0 <= x.min() and x.max() <= 1 and y == 0
    again = load_dataset(f"imagefolder:{tiny_tree}", cache_dir=tmp_path / "cache")  # from the cache
    assert torch.equal(again.images, ds.images)
    test = load_dataset(f"imagefolder:{tiny_tree}", train=False, cache_dir=None)
    assert len(test) == 6


def test_shared_cifar10(cifar_dir, monkeypatch):
    monkeypatch.setenv("SNNLIB_DATA", str(cifar_dir))
    test = load_dataset("cifar10", train=False, n_per_class=5, seed=1)
    assert len(test) == 50 and test.images.shape[1:] == (3, 32, 32)
    assert test.classes[:3] == ["airplane", "automobile", "bird"]
    assert test.source.startswith("npz:") and test.pixels == "lossless"
    assert test.sha256 == "b206f77a57d4a7927e619536d95a3f9f5c64f6ffe8d1a094dddba81bf45296c2"  # the shared SHA256SUMS
    assert load_dataset("cifar10", train=False).targets[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # the release's
    assert torch.equal(torch.bincount(test.targets), torch.full((10,), 5))


def test_subsets_are_seeded_and_stratified():
    t = torch.arange(100) % 4
    a, b, c = (stratified_indices(t, 5, s) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.bincount(t[a]), torch.full((4,), 5))
    with pytest.raises(SnnlibError, match="only 25"):
        stratified_indices(t, 30, 0)


def test_train_val_split():
    ds = data.ImageSet(torch.zeros(40, 1, 2, 2, dtype=torch.uint8), torch.arange(40) % 4, list("abcd"))
    ds.images[:, 0, 0, 0] = torch.arange(40, dtype=torch.uint8)  # tag each item
    tr, va = split_train_val(ds, 0.2, 3)
    assert len(tr) == 32 and len(va) == 8
    assert torch.equal(torch.bincount(va.targets), torch.full((4,), 2))
    assert not set(tr.images[:, 0, 0, 0].tolist()) & set(va.images[:, 0, 0, 0].tolist())
    tr2, va2 = split_train_val(ds, 0.2, 3)
    assert torch.equal(va2.images, va.images)
    with pytest.raises(SnnlibError, match="val_fraction"):
        split_train_val(ds, 1.0, 0)


def test_random_flip():
    x = torch.arange(8.0).view(2, 1, 1, 4).repeat(16, 1, 1, 1)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, 0] == 3) | (out[:, 0, 0, 0] == 7)
    assert 0 < flipped.sum() < len(x)
    assert torch.equal(out[flipped], x[flipped].flip(-1))


def synthetic_events(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "?")])
    ev["t"] = np.sort(rng.integers(0, 1_000_000, n))
    ev["x"] = rng.integers(0, 128, n)
    ev["y"] = rng.integers(0, 128, n)
    ev["p"] = rng.integers(0, 2, n).astype(bool)
    return ev


def test_dvs_events_to_frames():
    ev = synthetic_events()
    frames = events_to_frames(ev, T=10, frame_size=48)
    assert frames.shape == (10, 2, 48, 48) and frames.dtype == np.int16
    assert frames.sum() == len(ev)  # every event lands in exactly one frame
    per_frame = frames.reshape(10, -1).sum(1)
    assert (per_frame == len(ev) // 10).all()  # split by event count
    # polarity goes to its channel, and a corner event lands in the scaled corner
    one = np.zeros(10, dtype=ev.dtype)
    one["t"], one["x"], one["y"], one["p"] = np.arange(10), 127, 0, True
    f = events_to_frames(one, T=10, frame_size=48)
    assert f[:, 1, 0, 47].sum() == 10 and f[:, 0].sum() == 0


def test_dvs_scale_and_split():
    frames = torch.from_numpy(np.stack([events_to_frames(synthetic_events(seed=s)) for s in range(4)]))
    ds = data.ImageSet(frames, torch.tensor([0, 0, 1, 1]), ["a", "b"], "synthetic", data.dvs_scale(frames))
    x, _ = ds[1]
    assert x.shape == (10, 2, 48, 48) and x.max() == 1 and x.min() >= 0
    xb, _ = ds.batch(torch.tensor([0, 3]))
    assert xb.amax(dim=(1, 2, 3, 4)).eq(1).all()
    t = np.repeat(np.arange(10), 1000)
    tr, te = data.dvs_split(t, True), data.dvs_split(t, False)
    assert len(tr) == 9000 and len(te) == 1000 and not set(tr) & set(te)


def test_bad_events():
    with pytest.raises(SnnlibError, match="structured array"):
        events_to_frames(np.zeros((10, 4)))
    with pytest.raises(SnnlibError, match="at least T=10"):
        events_to_frames(synthetic_events(5))


def test_offline_cifar_error(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar

    def offline(*a, **k):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataNotFoundError, match=r"cifar10 is not in .*empty.*could not be downloaded.*SNNLIB_DATA"):
        load_dataset("cifar10", root=tmp_path / "empty")


def test_offline_dvs_error(tmp_path, monkeypatch):
    import tonic

    def offline(self):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(tonic.datasets.CIFAR10DVS, "download", offline)
    with pytest.raises(DataNotFoundError, match="CIFAR10-DVS is not in"):
        load_dataset("cifar10-dvs", root=tmp_path / "nodvs", cache_dir=None)


@pytest.mark.parametrize(
    "name, err, match",
    [
        ("mnist", SnnlibError, "unknown dataset 'mnist'.*imagefolder:<path>"),
        ("imagefolder:", SnnlibError, "imagefolder needs a path"),
        ("imagefolder:/no/such/folder", DataNotFoundError, "does not exist.*train/<class>"),
    ],
)
def test_bad_dataset(name, err, match):
    with pytest.raises(err, match=match):
        load_dataset(name, cache_dir=None)


def _npz_folder(tmp_path, n=4, classes=3, sums=True, **bad):
    """A tiny npz data folder (train.npz, test.npz, SHA256SUMS) like the shared lossless CIFAR-10."""
    import hashlib

    folder = tmp_path / "npz"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for name in ("train.npz", "test.npz"):
        x = rng.integers(0, 256, (n * classes, 8, 8, 3), dtype=np.uint8)
        y = np.arange(n * classes, dtype=np.uint8) % classes
        arrays = {"x": bad.get("x", x), "y": bad.get("y", y)}
        np.savez(folder / name, **arrays)
    if sums:
        lines = [f"{hashlib.sha256((folder / f).read_bytes()).hexdigest()}  {f}" for f in ("train.npz", "test.npz")]
        (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return folder


def test_npz_folder_is_read_as_the_named_dataset(tmp_path, monkeypatch):
    folder = _npz_folder(tmp_path, n=4, classes=10)
    monkeypatch.setenv("SNNLIB_DATA", str(folder))
    ds = load_dataset("cifar10", train=False, pixels="lossless")
    raw = np.load(folder / "test.npz")
    assert torch.equal(ds.images, torch.from_numpy(raw["x"]).permute(0, 3, 1, 2))  # bit for bit, [N,C,H,W]
    assert ds.classes[:2] == ["airplane", "automobile"] and ds.pixels == "lossless"
    assert ds.provenance()["sha256"] == (folder / "SHA256SUMS").read_text().split()[2]
    sub = load_dataset("cifar10", train=True, n_per_class=2, seed=1)  # seeded, stratified subsets unchanged
    assert torch.equal(torch.bincount(sub.targets), torch.full((10,), 2))
    assert sub.sha256 == (folder / "SHA256SUMS").read_text().split()[0]  # the train file's, kept by subsets
    tr, va = split_train_val(load_dataset(f"npz:{folder}"), 0.25, 3407)
    assert len(tr) + len(va) == 40 and len(va) == 10 and va.pixels == "lossless"


def test_npz_checksum_mismatch_names_the_file(tmp_path):
    folder = _npz_folder(tmp_path)
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  test.npz\n")
    with pytest.raises(SnnlibError, match=r"test\.npz: SHA-256 .* does not match"):
        load_dataset(f"npz:{folder}", train=False)
    assert len(load_dataset(f"npz:{folder}", train=True)) == 12  # train.npz is not listed: read without a check


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"x": np.zeros((12, 8, 8, 3), dtype=np.float32)}, "'x' must be uint8"),
        ({"x": np.zeros((12, 3, 8, 8, 1), dtype=np.uint8)}, r"shape \[N, H, W, C\]"),
        ({"y": np.full(12, 7, dtype=np.uint8)}, r"labels must lie in \[0, 3\)"),
        ({"y": np.zeros(5, dtype=np.uint8)}, "one label per image"),
    ],
)
def test_npz_bad_arrays_get_one_clear_line(tmp_path, bad, message):
    folder = _npz_folder(tmp_path, sums=False, **bad)
    with pytest.raises(SnnlibError, match=message) as e:
        from snnlib import npz

        npz.read_split(folder, train=True, num_classes=3)
    assert "train.npz" in str(e.value)


def test_npz_missing_file_and_pixel_kind_mismatch(tmp_path, tiny_tree, monkeypatch):
    with pytest.raises(DataNotFoundError, match=r"train\.npz does not exist"):
        load_dataset(f"npz:{tmp_path / 'nowhere'}")
    assert load_dataset(f"imagefolder:{tiny_tree}", cache_dir=None).pixels == "lossless"  # PNG files
    jpeg = tmp_path / "jpegtree"
    from torchvision.io import write_jpeg

    for split in ("train", "test"):
        for c in range(10):
            (jpeg / split / f"c{c}").mkdir(parents=True)
            write_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8), str(jpeg / split / f"c{c}" / "0.jpg"))
    monkeypatch.setenv("SNNLIB_DATA", str(jpeg))
    assert load_dataset("cifar10", train=False, cache_dir=None).pixels == "jpeg"
    with pytest.raises(SnnlibError, match="asks for lossless pixels .* whose pixels are jpeg; point SNNLIB_DATA"):
        load_dataset("cifar10", train=False, cache_dir=None, pixels="lossless")


def test_several_data_folders_and_the_config_picks_by_pixels(tmp_path, tiny_tree, monkeypatch):
    """SNNLIB_DATA may name several folders (like PATH): a lossless config reads the npz arrays, a JPEG one the
    JPEG tree, whichever comes first."""
    from torchvision.io import write_jpeg

    folder = _npz_folder(tmp_path, n=2, classes=10)
    jpeg = tmp_path / "jpegtree"
    for split in ("train", "test"):
        for c in range(10):
            (jpeg / split / f"c{c}").mkdir(parents=True)
            write_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8), str(jpeg / split / f"c{c}" / "0.jpg"))
    monkeypatch.setenv("SNNLIB_DATA", f"{jpeg}:{folder}")
    assert load_dataset("cifar10", train=False, cache_dir=None, pixels="lossless").source.startswith("npz:")
    assert load_dataset("cifar10", train=False, cache_dir=None, pixels="jpeg").pixels == "jpeg"
    assert load_dataset("cifar10", train=False, cache_dir=None).pixels == "jpeg"  # no kind asked: the first folder
