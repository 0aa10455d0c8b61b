"""One model on both copies of the test images (snnlib.pixels): the same images in the same canonical order, and
the lossless outcomes agree with the config's own evaluation."""

import numpy as np
import torch

from snnlib import config, evaluation, experiments, pixels, train
from snnlib.build import load_data

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _copies(cifar_dir, tmp_path):
    """A small lossless folder (the first images of each class, in the release's order) and its JPEG tree (class by
    class, named by rank within the class), like the two shared copies."""
    from torchvision.io import write_jpeg

    npz, jpeg = tmp_path / "npz", tmp_path / "jpeg"
    npz.mkdir()
    for split, n in (("train", 6), ("test", 3)):
        raw = np.load(cifar_dir / f"{split}.npz")
        keep = np.sort(np.concatenate([np.flatnonzero(raw["y"] == c)[:n] for c in range(10)]))
        x, y = raw["x"][keep], raw["y"][keep]
        np.savez(npz / f"{split}.npz", x=x, y=y)
        for c in range(10):
            (jpeg / split / CLASSES[c]).mkdir(parents=True)
            for r, i in enumerate(np.flatnonzero(y == c)):
                img = torch.from_numpy(x[i]).permute(2, 0, 1).contiguous()
                write_jpeg(img, str(jpeg / split / CLASSES[c] / f"{r:04d}.jpg"))
    return npz, jpeg


def test_both_copies_give_the_same_images_and_the_lossless_path_agrees(cifar_dir, tmp_path, monkeypatch):
    npz, jpeg = _copies(cifar_dir, tmp_path)
    monkeypatch.setenv("SNNLIB_DATA", f"{npz}:{jpeg}")
    sets = ["data.n_per_class=6", "data.val_fraction=0.34", "data.test_per_class=2", "data.eval_per_class=2"]
    sets += ["model.width=2", "train.epochs=1", "train.batch_size=8", "profile=custom", "name=tiny"]
    cfg = config.from_dict(config.apply_overrides({}, sets))
    (tl, al), (tj, aj) = pixels.selections(cfg, "lossless"), pixels.selections(cfg, "jpeg")
    assert torch.equal(tl.targets, tj.targets) and torch.equal(al.targets, aj.targets)
    assert (tl.images.float() - tj.images.float()).abs().mean() < 20  # the same images, up to JPEG error
    assert tl.pixels == "lossless" and tj.pixels == "jpeg"
    # the same images as the config's own selection, in another order
    ref = load_data(cfg, "eval")
    assert sorted(ref.images.flatten(1).sum(1).tolist()) == sorted(al.images.flatten(1).sum(1).tolist())
    train.ensure_trained(cfg)
    on_lossless, on_jpeg = pixels.cross_evaluation(cfg, "lossless"), pixels.cross_evaluation(cfg, "jpeg")
    own = experiments.evaluate_config(cfg)
    assert sum(on_lossless["per_sample"]["clean"]) == sum(own["per_sample"]["clean"])  # two paths, one number
    test_acc, _ = evaluation.accuracy(train_model(cfg), load_data(cfg, "test"))
    assert sum(on_lossless["per_sample"]["clean_test"]) == round(test_acc * len(tl))
    assert len(on_jpeg["per_sample"]["pgd"]) == len(al) and on_jpeg["test_pixels"] == "jpeg"
    assert pixels.cross_evaluation(cfg, "jpeg")["result_file"] == on_jpeg["result_file"]  # cached
    # the authors' threat crafts in seeded batches of a permutation and stores the outcomes back in canonical order
    authors = pixels.cross_evaluation(cfg, "lossless", threat="authors")
    assert authors["per_sample"]["clean"] == on_lossless["per_sample"]["clean"]  # the permutation is undone
    assert authors["threat"] == "authors" and authors["result_file"] != on_lossless["result_file"]
    assert all(p <= c for p, c in zip(authors["per_sample"]["pgd"], authors["per_sample"]["clean"]))
    _worst_case_is_nested_in_pgd7(cfg, on_jpeg)


def _worst_case_is_nested_in_pgd7(cfg, on_jpeg):
    from snnlib.worst_case import CascadeSettings

    s = CascadeSettings(steps=2, restarts=1, apgd_steps=1, batch_size=8)
    w = pixels.cross_worst_case(cfg, "jpeg", settings=s)
    worst, pgd = w["per_sample"]["worst"], on_jpeg["per_sample"]["pgd"]
    assert len(worst) == len(pgd) and all(a <= b for a, b in zip(worst, pgd))  # contained in PGD-7's survivors
    assert w["rows"][0]["robust_after"] == sum(pgd) and w["space"] == "pixel" and w["test_pixels"] == "jpeg"
    assert w["beyond_pgd7"]["k"] == sum(pgd) - sum(worst)
    assert pixels.cross_worst_case(cfg, "jpeg", settings=s)["result_file"] == w["result_file"]  # cached


def train_model(cfg):
    from snnlib.checkpoints import load_trained

    return load_trained(cfg)
