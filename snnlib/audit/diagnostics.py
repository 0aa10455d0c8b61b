"""Diagnostics of the gradients an attack follows (Athalye et al. 2018, Section 5): does a backward pass predict
how the loss actually changes? Both take a phase-coded classifier and images in [0, 1]."""

from __future__ import annotations

import torch

from ..attacks import ThreatModel, ce_losses, encoder_grad

BACKWARDS = ("ste", "omega", "flip")


def _loss(model, x, y):
    with torch.no_grad():
        return ce_losses(model(x), y)


def gradient_alignment(model, x, y, eps: float, n_dirs: int = 16, generator: torch.Generator | None = None) -> list:
    """Per encoder backward: the cosine, over ``n_dirs`` random sign directions v, between the predicted change
    ``g . v`` and the finite difference ``(L(x + eps v) - L(x - eps v)) / 2`` (mean and min over images), and
    how often the two have the same sign."""
    v = (torch.randint(0, 2, (n_dirs, *x.shape), generator=generator) * 2 - 1).to(x)
    fd = torch.stack(
        [(_loss(model, (x + eps * d).clamp(0, 1), y) - _loss(model, (x - eps * d).clamp(0, 1), y)) / 2 for d in v]
    )  # [n_dirs, B]
    rows = []
    for b in BACKWARDS:
        with encoder_grad(model, b, width=eps):
            g, _ = ThreatModel(model).grad(x, y)
        pred = eps * (v * g.unsqueeze(0)).flatten(2).sum(2)  # [n_dirs, B]
        cos = torch.nn.functional.cosine_similarity(pred.T, fd.T, dim=1)
        rows.append(
            {
                "backward": b,
                "cosine_mean": float(cos.mean()),
                "cosine_min": float(cos.min()),
                "sign_agreement": float((pred.sign() == fd.sign()).float().mean()),
                "n_images": len(y),
                "n_dirs": n_dirs,
            }
        )
    return rows


def landscape(model, x, y, eps: float, grid: int = 11, generator: torch.Generator | None = None) -> dict:
    """The loss on a plane through each image: along the sign of its (straight-through) gradient and a random
    sign direction, each from -eps to eps (Athalye et al. 2018; Engstrom et al. 2018)."""
    g, _ = ThreatModel(model).grad(x, y)
    a, r = g.sign(), (torch.randint(0, 2, x.shape, generator=generator) * 2 - 1).to(x)
    steps = torch.linspace(-eps, eps, grid)
    loss = torch.stack(
        [torch.stack([_loss(model, (x + ai * a + bj * r).clamp(0, 1), y) for bj in steps]) for ai in steps]
    )  # [grid (gradient), grid (random), B]
    return {"steps": steps.tolist(), "loss": loss.permute(2, 0, 1).tolist(), "n_images": len(y)}
