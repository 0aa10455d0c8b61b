"""The objects a config describes: its classifier (SpikingJelly ResNet + encoder) and its data splits.

Everything downstream (training, attacks, probes, the audit) receives these objects, never the
config's raw fields.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from .config import Config
from .data import ImageSet, load_dataset, split_train_val, stratified_indices
from .encoding import build_encoder
from .errors import SnnlibError, check_choice
from .kernels import accelerate
from .models import SpikingClassifier, build_model

SPLITS = ("train", "val", "test", "eval")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_classifier(cfg: Config, num_classes: int, in_channels: int = 3) -> SpikingClassifier:
    """The model of a config: SpikingJelly ResNet + encoder, weights seeded by ``cfg.seed``.

    With ``train.fast`` (the default), :func:`snnlib.kernels.accelerate` swaps in detached-reset IF
    neurons fused over all T steps (SpikingJelly's spikes and gradients, bit for bit) and
    convolutions whose weight gradients on tiny maps are GEMMs (equal up to float rounding; forwards
    and the input-only gradients of attacks stay bit-identical). The state_dict is unchanged.
    """
    seed_everything(cfg.seed)
    m = cfg.model
    net = build_model(
        m.arch,
        num_classes,
        pool=m.pool,
        in_channels=in_channels,
        width=m.width,
        detach_reset=m.detach_reset,
        neuron=m.neuron,
    )
    if cfg.train.fast:
        accelerate(net, neurons=True, gemm_wgrad=True)
    return SpikingClassifier(net, build_encoder(m.encoder, T=m.T, K=m.K, weighted=m.weighted))


def load_data(cfg: Config, split: str) -> ImageSet:
    """``split`` is ``train`` or ``val`` (both carved from the training set), ``test`` (clean accuracy)
    or ``eval`` (the attacked subset). Every selection is seeded by ``cfg.split_seed``."""
    check_choice("data split", split, SPLITS)
    d = cfg.data
    if split in ("train", "val"):
        full = load_dataset(d.dataset, train=True, n_per_class=d.n_per_class, seed=cfg.split_seed, pixels=d.pixels)
        tr, va = split_train_val(full, d.val_fraction, cfg.split_seed)
        return tr if split == "train" else va
    test = load_dataset(d.dataset, train=False, pixels=d.pixels)
    n = d.test_per_class if split == "test" else d.eval_per_class
    return test.subset(stratified_indices(test.targets, n, cfg.split_seed)) if n else test


def check_data(cfg: Config) -> None:
    """Fail before any training if the dataset cannot give what the config asks for (sizes per class)."""
    for split, n, train in (
        ("train", cfg.data.n_per_class, True),
        ("test", cfg.data.test_per_class, False),
        ("eval", cfg.data.eval_per_class, False),
    ):
        if n is None:
            continue
        ds = load_dataset(cfg.data.dataset, train=train, pixels=cfg.data.pixels)
        have = int(torch.bincount(ds.targets).min()) if len(ds) else 0
        if n > have:
            key = {"train": "n_per_class", "test": "test_per_class", "eval": "eval_per_class"}[split]
            raise SnnlibError(
                f"config {cfg.name!r}: data.{key}={n}, but {cfg.data.dataset} has only {have} "
                f"{'training' if train else 'test'} images in its smallest class; lower data.{key}"
            )


def in_channels_of(ds: ImageSet) -> int:
    return int(ds.images.shape[-3])
