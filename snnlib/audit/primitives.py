"""The primitives the audit's checks share (:mod:`.checks`, :mod:`.black_box`, :mod:`.threat_checks`): AutoAttack's
randomness and output-range checks, random noise in the eps-ball, exact-zero gradients, the per-sample worst case,
and PGD tracked or run over a suite's attacked images in batches."""

from __future__ import annotations

import torch

from ..attacks import ThreatModel, bn_mode, concat_tracks, pgd_track, random_start, run_torchattack
from ..encoding import PhaseEncoder
from ..errors import SnnlibError
from ..kernels import flush_denormals
from .suite import Suite, batch_generator


def random_noise(
    threat: ThreatModel, x, y, eps: float, draws: int = 20, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-sample robustness to ``draws`` uniform random points of the eps-ball (a Carlini et al. 2019 check)."""
    z0 = threat.inputs(x)
    robust = torch.ones(len(y), dtype=torch.bool)
    for _ in range(draws):
        robust &= (threat.predict(random_start(z0, eps, generator)) == y).cpu()
    return robust


def randomness(model, x, n: int = 5) -> dict:
    """AutoAttack's randomness check, and which kind: ``n`` forwards on the same images; ``stochastic`` if the
    encoder's output differs between calls, ``stateful`` if only the logits do (state leaks between calls)."""
    with torch.no_grad(), bn_mode(model, "eval"):
        outs = [model(x).float() for _ in range(n)]
        enc = getattr(model, "encode", None)
        enc_differs = enc is not None and not torch.equal(enc(x), enc(x))
    norm = [o / o.norm(dim=1, keepdim=True).clamp_min(1e-12) for o in outs]
    dist = max(float((a - norm[0]).norm(dim=1).max()) for a in norm[1:]) if n > 1 else 0.0
    preds_differ = any(not torch.equal(o.argmax(1), outs[0].argmax(1)) for o in outs[1:])
    differ = preds_differ or dist > 1e-4 or enc_differs  # a random encoder counts even where the logits agree
    kind = "deterministic" if not differ else "stochastic" if enc_differs else "stateful"
    return {"deterministic": not differ, "kind": kind, "max_logit_distance": dist, "predictions_differ": preds_differ}


def is_deterministic(model, x) -> bool:
    """Whether repeated forwards on the same images agree (AutoAttack's check): phase coding yes, rate coding no."""
    return randomness(model, x)["deterministic"]


def output_range(model, x) -> dict:
    """AutoAttack's output check: do the outputs look like probabilities (in [0, 1], rows summing to 1)?"""
    with torch.no_grad(), bn_mode(model, "eval"):
        out = model(x).float()
    probs = bool(out.max() < 1 + 1e-5 and out.min() > -1e-5 and (out.sum(1) - 1).abs().max() < 1e-5)
    return {"probabilities": probs, "min": float(out.min()), "max": float(out.max()), "n_classes": int(out.shape[-1])}


def zero_gradient_stats(g: torch.Tensor | None, batch_dim: int = 0) -> dict:
    """Samples whose input gradient is exactly zero everywhere (and which), and the fraction of zero entries."""
    if g is None:
        return {"n": 0, "all_zero": 0, "all_zero_frac": float("nan"), "zero_frac": float("nan"), "which": []}
    flat = g.transpose(0, batch_dim).flatten(1) if batch_dim else g.flatten(1)
    all_zero = ~(flat != 0).any(1)
    return {
        "n": int(flat.shape[0]),
        "all_zero": int(all_zero.sum()),
        "all_zero_frac": float(all_zero.float().mean()) if len(flat) else float("nan"),
        "zero_frac": float((flat == 0).float().mean()) if flat.numel() else float("nan"),
        "which": torch.nonzero(all_zero).flatten().tolist(),
    }


def worst_case(robust: dict) -> torch.Tensor:
    """Per-sample worst case over attacks: robust only if robust to every one (a per-sample AND / min)."""
    if not robust:
        raise SnnlibError("worst_case needs at least one attack")
    return torch.stack([torch.as_tensor(v, dtype=torch.bool) for v in robust.values()]).all(0)


def input_grads(threat: ThreatModel, x, y, bs) -> torch.Tensor | None:
    """Input gradients of the per-sample loss at the clean inputs, batched (BN as in ``threat``). Denormals are kept
    (not flushed to zero, :func:`snnlib.kernels.flush_denormals`): callers count the gradient's exact zeros."""
    parts = []
    with threat.crafting(), flush_denormals(False):
        for i in range(0, len(y), bs):
            parts.append(threat.grad(threat.inputs(x[i : i + bs]), y[i : i + bs])[0].cpu())
    return torch.cat(parts, threat.batch_dim) if parts else None  # no samples (e.g. none classified correctly)


def track(suite: Suite, threat: ThreatModel, seed: int, **kw) -> dict:
    """:func:`~snnlib.attacks.pgd_track` over the attacked subset in batches, with per-batch generators."""
    x, y = suite.attacked
    parts = [
        pgd_track(threat, x[i : i + suite.bs], y[i : i + suite.bs], generator=batch_generator(seed, i), **kw)
        for i in range(0, len(y), suite.bs)
    ]
    return concat_tracks(parts, kw.get("restarts", 1), kw.get("steps"))


def has_phase(model) -> bool:
    return isinstance(getattr(model, "encoder", None), PhaseEncoder)


def suite_torchattack(suite, name, **kw):
    """Per-sample robustness over all N and the adversarial inputs (:meth:`Suite.adversarial`)."""
    std, s = suite.std, suite.s
    return suite.adversarial(
        lambda xb, yb: run_torchattack(name, std, xb, yb, suite.eps, suite.n_classes, s.seed, **kw)
    )


def robust_of(suite, make):
    """Per-sample robustness of an attack class with a ``robust(x, y)`` method, over the attacked subset."""
    return suite.full(suite.batched(lambda xb, yb, g: make(g).robust(xb, yb).cpu(), seed=suite.key(40)))
