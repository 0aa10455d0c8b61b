"""The one threat registry: name -> where the attack perturbs, how BN behaves, eps, batch order and size, label.

Every setting here changes a number, so each is part of a result's config (``attack.*``) and recorded in it:

- ``standard``: pixels, BN in eval mode, the config's eps (the paper's text: 8/255). With BN in eval mode an
  image's result does not depend on which images share its batch, so batches follow the dataset's order.
- ``authors``: what the authors' code does (paper Section 4.2 as implemented): the encoded spikes are
  attacked after ``model.train()``, so BN normalises with the attacked batch's own statistics. Then the
  result depends on which images share a batch. Their test loader is shuffled with batch 16, so batches
  here are a seeded shuffle of 16 images too (:func:`batch_indices`), never the class-sorted order of a
  stratified subset (which inflated the PGD accuracy under this threat by 13-18 points on medium SEW-18).
- ``authors-6``: the same at the 6/255 their ``adv_test_step`` uses by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import SnnlibError, check_choice

PAPER_EPS = 8 / 255  # the paper's text (Section 4.2)
AUTHORS_EPS = 6 / 255  # the authors' code: adv_test_step passes none, so the default applies
BATCH_ORDERS = ("dataset", "shuffled")
AUTHORS_BATCH = 16  # the authors' test loader: batch 16, shuffle=True


@dataclass(frozen=True)
class Threat:
    """A named threat model: every setting that changes its numbers."""

    name: str
    label: str
    space: str = "pixel"
    bn: str = "eval"
    eps: float | None = None  # None: the config's attack.eps
    batch_order: str = "dataset"
    batch_size: int | None = None  # None: the config's attack.batch_size

    def overrides(self) -> dict:
        """The ``attack.*`` fields this threat sets in a config."""
        out = {"space": self.space, "bn": self.bn, "batch_order": self.batch_order}
        if self.eps is not None:
            out["eps"] = self.eps
        if self.batch_size is not None:
            out["batch_size"] = self.batch_size
        return out


THREATS = {
    t.name: t
    for t in (
        Threat("standard", "pixel + BN eval (standard), 8/255"),
        Threat(
            "authors", "spike + BN train (authors' code), 8/255", "spike", "train", PAPER_EPS, "shuffled", AUTHORS_BATCH
        ),
        Threat(
            "authors-6",
            "spike + BN train (authors' code), 6/255",
            "spike",
            "train",
            AUTHORS_EPS,
            "shuffled",
            AUTHORS_BATCH,
        ),
    )
}


def threat(name: str) -> Threat:
    """The registered threat called ``name``; one clear error for any other name."""
    check_choice("threat model", name, tuple(THREATS))
    return THREATS[name]


def order_keys(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded pseudo-random key per image computed from its pixels and label alone (a random projection of
    the 8-bit image), so a shuffle sorted by it does not depend on the order the images came in."""
    g = torch.Generator().manual_seed(int(seed))
    flat = x.detach().flatten(1).cpu().double()
    if x.is_floating_point():  # images in [0, 1]: their 8-bit levels, so uint8 and float copies agree
        flat = torch.round(flat * 255)
    w = torch.rand(flat.shape[1], generator=g, dtype=torch.float64)
    return flat @ w + y.double().cpu() * float(torch.rand(1, generator=g, dtype=torch.float64))


def batch_indices(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, order: str = "dataset", seed: int = 0
) -> list[torch.Tensor]:
    """Index batches of ``len(y)`` images: consecutive (``dataset``), or a seeded shuffle (``shuffled``) that
    depends only on the images, not on their order. The last, smaller batch is kept, never dropped."""
    check_choice("batch order", order, BATCH_ORDERS)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise SnnlibError(f"batch size must be a positive integer, got {batch_size!r}")
    n = len(y)
    if order == "dataset":
        perm = torch.arange(n)
    else:
        keys = order_keys(x, y, seed)
        perm = torch.tensor(sorted(range(n), key=lambda i: (keys[i].item(), int(y[i]))), dtype=torch.long)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]
