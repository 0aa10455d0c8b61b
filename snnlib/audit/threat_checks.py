"""The audit's checks of the threat model itself (paper Section 4.3, issue: the authors' threat): exactly-zero input
gradients, the paper's attacks in pixel/spike space with BN eval/train, the authors' evaluation loop (which leaks
test-batch BN statistics), and how well each encoder backward predicts the loss."""

from __future__ import annotations

import torch

from .. import models
from ..attacks import FGSM, PGD, ThreatModel
from ..attacks import threat as registered_threat
from ..authors import authors_loop
from . import records as R
from .primitives import has_phase, input_grads, zero_gradient_stats
from .suite import Suite


def check_zero_gradients(suite: Suite):
    """8: exactly-zero input gradients at the clean images (training surrogate), pixel and spike space."""
    rows = []
    for space in ("pixel", "spike"):
        if space == "spike" and getattr(suite.model, "encoder", None) is None:
            continue
        t = ThreatModel(suite.model, space, "eval")
        rows.append({"space": space, **zero_gradient_stats(input_grads(t, suite.x, suite.y, suite.bs), t.batch_dim)})
    suite.extra["zero_gradients"] = rows


def check_threat_models(suite: Suite):
    """9a: the paper's FGSM and PGD-7 in pixel/spike space with BN eval/train (statistics restored)."""
    s, eps, rows = suite.s, suite.eps, []
    if getattr(suite.model, "encoder", None) is None or not hasattr(suite.model, "forward_spikes"):
        suite.extra["switches"] = rows
        return
    for space in ("pixel", "spike"):
        for bn in ("eval", "train"):
            t = ThreatModel(suite.model, space, bn)
            # under BN train the batch matters: the registry's authors' batching (shuffled, 16), as their loader
            batching = registered_threat("authors") if bn == "train" else None

            def fgsm(xb, yb, t=t):
                return t.predict(FGSM(t, eps)(xb, yb)) == yb

            def pgd(xb, yb, g, t=t):
                return t.predict(PGD(t, eps, s.alpha, 7, generator=g)(xb, yb)) == yb

            f = suite.full(suite.batched(fgsm, threat=batching))
            p = suite.full(suite.batched(pgd, seed=suite.key(1), threat=batching))  # the paper's PGD-7 random starts
            rows.append(
                {"space": space, "bn": bn, "fgsm_acc": float(f.float().mean()), "pgd_acc": float(p.float().mean())}
            )
            suite.robust[R.switch(space, bn, R.FGSM)], suite.robust[R.switch(space, bn, R.PGD7)] = f, p
    suite.extra["switches"] = rows


def check_authors_loop(suite: Suite):
    """9b: the authors' evaluation loop, whose crafting in train mode updates BN statistics on test images."""
    s = suite.s
    if not has_phase(suite.model) or not models.spiking_neurons(suite.model):
        return
    al = authors_loop(suite.model, suite.x, suite.y, s.authors_eps, s.alpha, 7, s.authors_batch_size, suite.gen(90))
    suite.extra["authors_loop"] = {
        k: (float(v.float().mean()) if isinstance(v, torch.Tensor) else v) for k, v in al.items()
    }
    for k in ("clean", "fgsm", "pgd", "clean_leak", "fgsm_leak", "pgd_leak", "clean_after"):
        suite.robust[R.authors(k)] = al[k]


def check_diagnostics(suite: Suite):
    """How well each encoder backward predicts the loss: cosine with finite differences; a loss-landscape slice."""
    from .diagnostics import gradient_alignment, landscape

    if not has_phase(suite.model) or suite.s.diagnostics_images < 1:
        return
    x, y = suite.attacked
    k = min(suite.s.diagnostics_images, len(y))
    if k == 0:
        return
    suite.extra["alignment"] = gradient_alignment(suite.model, x[:k], y[:k], suite.eps, generator=suite.gen(95))
    suite.extra["landscape"] = landscape(suite.model, x[:2], y[:2], suite.eps, generator=suite.gen(96))
