"""One trained model on both copies of CIFAR-10's test images, lossless and JPEG (issue: lossless CIFAR-10).

The JPEG copy's errors (about 6/255 on average) sit in the low-order bits that phase coding turns into spikes, the
size of the 8/255 budget. Whether a model's robustness transfers between the copies is measured here on the same
images (the two copies share order and labels, so a config's seeded selection picks the same images in both): clean
accuracy on the config's test selection and the paper's FGSM/PGD-7 on its attacked subset, per image, so that the
two copies can be compared by the exact paired test (:func:`snnlib.stats.mcnemar`).

The copies store the images in different orders (the arrays in the original release's order, the JPEG tree class
by class), but both keep each class's images in their original order, and a seeded selection picks the same ranks
within each class. So the outcomes are stored in one canonical order, class by class and by rank within the class
(:func:`canonical`): position ``i`` is the same image in both copies.
"""

from __future__ import annotations

import time

from . import evaluation, places, results
import torch

from .checkpoints import load_trained
from .config import Config, content_hash, replace
from .attacks import threat as registered_threat
from .data import ImageSet, load_dataset, stratified_indices
from .worst_case import STRONG_EVAL, CascadeSettings, cascade_worst_case

PIXELS = ("lossless", "jpeg")


def trained_on(cfg: Config, pixels: str) -> Config:
    """The config of ``cfg``'s model trained on the ``pixels`` copy: ``cfg`` itself if it names that copy; else its
    twin as the medium profile trained it (the JPEG models before denormals were flushed, the lossless retraining
    with ``train.flush_denormals``)."""
    if cfg.data.pixels == pixels:
        return cfg
    return replace(cfg, data={"pixels": pixels}, train={"flush_denormals": pixels == "lossless"})


#: under a BN-train threat the batches are a seeded permutation of the canonical order, cut in the threat's batch
#: size: the same images share a batch in both copies (a shuffle keyed by the pixels would differ between them)
PAIRED_BATCHES = "seeded permutation of the canonical order"


def cross_evaluation(
    cfg: Config, pixels: str, device: str | None = None, force: bool = False, threat: str = "standard"
) -> dict:
    """Clean (test selection) and FGSM/PGD-7 (attacked subset) outcomes per image of ``cfg``'s trained model on the
    ``pixels`` copy of the test images under a registered ``threat`` (:mod:`snnlib.attacks.registry`), cached beside
    the model's run as ``pixels-[<threat>-]<copy>-<key>.json``."""
    device = device or places.device()
    t = registered_threat(threat)
    extra = {} if threat == "standard" else {"threat": threat, **t.overrides(), "batches": PAIRED_BATCHES}
    key = content_hash({"eval": cfg.eval_key(), "test_pixels": pixels, **extra})
    name = f"pixels-{pixels}" if threat == "standard" else f"pixels-{threat}-{pixels}"
    out = results.run_dir(cfg) / f"{name}-{key[:10]}.json"
    return results.cached(out, lambda: _compute(cfg, pixels, device, key, threat), force)


def canonical(ds: ImageSet) -> ImageSet:
    """``ds`` in class order, each class's images in their stored order (the same order in both copies)."""
    t = ds.targets.long()
    return ds.subset(torch.argsort(t * len(t) + torch.arange(len(t))))


def selections(cfg: Config, pixels: str) -> tuple[ImageSet, ImageSet]:
    """The config's test selection and attacked subset of the ``pixels`` copy, in canonical order: the same images
    as :func:`snnlib.build.load_data` selects from either copy."""
    full = canonical(load_dataset(cfg.data.dataset, train=False, pixels=pixels))
    d = cfg.data
    pick = [stratified_indices(full.targets, n, cfg.split_seed) for n in (d.test_per_class, d.eval_per_class)]
    return full.subset(pick[0]), full.subset(pick[1])


def _attacked(model, attacked: ImageSet, cfg: Config, threat: str, device) -> tuple[float, dict]:
    """The threat's eps and per-image outcomes (canonical order) on the attacked subset; under BN train crafted in
    batches of a seeded permutation (:data:`PAIRED_BATCHES`)."""
    t, a = registered_threat(threat), cfg.attack
    e, bs = float(t.eps if t.eps is not None else a.eps), t.batch_size or a.batch_size
    perm = torch.arange(len(attacked))
    if t.bn == "train":
        perm = torch.randperm(len(attacked), generator=torch.Generator().manual_seed(cfg.seed))
    r = evaluation.evaluate_model(
        model, attacked.subset(perm), e, a.pgd_alpha, a.pgd_steps, t.space, t.bn, [], bs, device, cfg.seed
    )
    back = torch.argsort(perm)
    per = {k: torch.as_tensor(r["per_sample"][f"{k}@{e}" if k != "clean" else k])[back].tolist() for k in OUTCOMES}
    return e, per


OUTCOMES = ("clean", "fgsm", "pgd")


def _compute(cfg: Config, pixels: str, device: str, key: str, threat: str = "standard") -> dict:
    t0 = time.time()
    model = load_trained(cfg, "best", device)
    test, attacked = selections(cfg, pixels)
    logits, _ = evaluation.predict(model, test, cfg.train.eval_batch_size, device)
    e, per = _attacked(model, attacked, cfg, threat, device)
    return {
        "kind": "pixels",
        "run_id": cfg.run_id,
        "key": key,
        "trained_on": cfg.data.pixels,
        "test_pixels": pixels,
        "threat": threat,
        "eps": e,
        "per_sample": {"clean_test": (logits.argmax(1).cpu() == test.targets).int().tolist(), **per},
        "data": {"test": test.provenance(), "attacked": attacked.provenance()},
        "env": results.environment(device, cfg.seed),
        "wall_time_s": time.time() - t0,
    }


def cross_worst_case(
    cfg: Config, pixels: str, device: str | None = None, force: bool = False, settings: CascadeSettings | None = None
) -> dict:
    """The standard threat's per-image worst case of ``cfg``'s model on the ``pixels`` copy: the attacked subset's
    images that PGD-7 left in :func:`cross_evaluation` (canonical order), attacked again in pixel space with BN in
    eval mode by the audit's strongest white-box attacks (:data:`snnlib.worst_case.STRONG_EVAL`: PGD with the
    audit's longest ladder run and restarts, APGD-CE, APGD-DLR). Contained in PGD-7's survivors by construction.
    Cached beside the model's run as ``pixels-worst-<copy>-<key>.json``."""
    device = device or places.device()
    s = settings or CascadeSettings.for_profile(cfg.profile if cfg.profile in places.PROFILES else None)
    ev = cross_evaluation(cfg, pixels, device)
    key = content_hash({"pixels": ev["key"], "settings": s.to_dict(), "cascade": [list(c) for c in STRONG_EVAL]})
    out = results.run_dir(cfg) / f"pixels-worst-{pixels}-{key[:10]}.json"
    return results.cached(out, lambda: _worst(cfg, pixels, ev, s, device, key), force)


def _worst(cfg: Config, pixels: str, ev: dict, s: CascadeSettings, device: str, key: str) -> dict:
    t0 = time.time()
    model = load_trained(cfg, "best", device)
    attacked = selections(cfg, pixels)[1]
    x, y = attacked.batch(torch.arange(len(attacked)))
    per = ev["per_sample"]
    how = {"space": "pixel", "n_classes": attacked.num_classes}
    r = cascade_worst_case(
        model, x.to(device), y.to(device), per["clean"], per["pgd"], ev["eps"], s, STRONG_EVAL, **how
    )
    return {
        "kind": "pixels-worst",
        "run_id": cfg.run_id,
        "key": key,
        "trained_on": cfg.data.pixels,
        "test_pixels": pixels,
        "threat": "standard",
        "settings": s.to_dict(),
        "cascade": [list(c) for c in STRONG_EVAL],
        **r,
        "data": {"attacked": attacked.provenance()},
        "env": results.environment(device, cfg.seed),
        "wall_time_s": time.time() - t0,
    }
