"""Does the audit's attack work on this model? Two checks that need no trust in the attack's own result.

- :func:`binarization_test` (Zimmermann et al. 2022, "Increasing Confidence in Adversarial Robustness
  Evaluations"): per image, an inner problem that is known to have an adversarial example. The model's logits are
  composed with a linear binary readout whose decision boundary is placed, by construction, between the clean
  image (and random points of the eps-ball around it) and a known point of the ball's surface: of a few random
  sign patterns (per pixel, per column as Square's initial stripes, per 8x8 block; scaled to a vertex of the l-inf
  ball or a point of the l2 sphere) and the sign of the model's own input gradient, the one that moves the logits
  most. The audit's PGD-7 then attacks the binary model; a working attack finds an input
  beyond the boundary in every case. Where it does not, robustness to that attack says little about this model.
- :func:`indicators`: indicators of attack failure (Pintor et al. 2022) read off what the suite already recorded:
  silent success and incomplete optimisation from the trace of the paper's PGD, unavailable gradients,
  unconstrained attack failure and unstable predictions.
"""

from __future__ import annotations

import torch

from ..attacks import PGD, ThreatModel, bn_mode, random_start
from . import records as R

#: the binarized problems per audit: a few images, seconds on a CPU at budget quick
N_IMAGES = 8
INNER = 16
PATTERNS = ("pixel", "stripes", "blocks")  # random sign patterns, two each, besides the gradient's sign


class BinaryHead(torch.nn.Module):
    """The model's logits through one linear readout per image (row ``i`` of the batch uses ``f0[i], w[i],
    tau[i]``): logits ``[0, w . (f(x) - f0) - tau]``, so class 1 (adversarial) lies beyond the boundary."""

    def __init__(self, model, f0, w, tau):
        super().__init__()
        self.model, self.f0, self.w, self.tau = model, f0, w, tau

    def forward(self, x):
        r = ((self.model(x).float() - self.f0) * self.w).sum(1) - self.tau
        return torch.stack([torch.zeros_like(r), r], 1)


def _signs(x, g: torch.Generator, pattern: str):
    """Random signs shaped like ``x`` ``[B,C,H,W]``: per pixel, per (channel, column) or per 8x8 block."""
    b, c, h, w = x.shape
    shape = {"pixel": (b, c, h, w), "stripes": (b, c, 1, w), "blocks": (b, c, -(-h // 8), -(-w // 8))}[pattern]
    s = torch.randint(0, 2, shape, generator=g).to(x) * 2 - 1
    if pattern == "blocks":
        s = s.repeat_interleave(8, 2).repeat_interleave(8, 3)[:, :, :h, :w]
    return s.expand(b, c, h, w)


def _surface(x, d, eps: float, norm: str):
    """``x`` moved by ``eps`` along ``d``: ``sign(d)`` (l-inf) or ``d / |d|_2`` (l2), clamped to [0, 1]."""
    if norm == "linf":
        return (x + eps * d.sign()).clamp(0, 1)
    return (x + eps * d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))).clamp(0, 1)


def _inner_point(x, eps: float, norm: str, g: torch.Generator):
    """A uniform point of the l-inf ball, or a uniformly drawn point of the l2 ball; clamped to [0, 1]."""
    if norm == "linf":
        return random_start(x, eps, g)
    r = float(torch.rand(1, generator=g)) ** (1 / x[0].numel())
    return _surface(x, torch.randn(x.shape, generator=g).to(x), eps * r, norm)


def _logits(model, x):
    with torch.no_grad(), bn_mode(model, "eval"):
        return model(x).float()


def _gradient_point(model, x, eps: float, norm: str):
    """The surface point along the model's input gradient of the cross-entropy at its own prediction (FGSM/FGM)."""
    t = ThreatModel(model, "pixel", "eval")
    with t.crafting():
        g, _ = t.grad(x, _logits(model, x).argmax(1))
    return _surface(x, g, eps, norm)


def _known_point(model, x, f0, eps: float, norm: str, g: torch.Generator):
    """Per image, of two random surface points per pattern of ``PATTERNS`` and the gradient's, the one whose
    logits move most."""
    cands = [_surface(x, _signs(x, g, p), eps, norm) for p in PATTERNS for _ in range(2)]
    cands.append(_gradient_point(model, x, eps, norm))
    moved = torch.stack([((_logits(model, c) - f0) ** 2).sum(1) for c in cands])  # [candidates, B]
    best = moved.argmax(0)
    return torch.stack([cands[int(j)][i] for i, j in enumerate(best)])


def build_problems(model, x, eps: float, norm: str, g: torch.Generator) -> dict:
    """Per image: the readout (``f0``, ``w``, ``tau``) and whether the problem is usable. ``w`` is scaled so that
    the clean image scores 0 and the known adversarial point 1; ``tau`` lies 3/4 of the way from the highest score
    of ``INNER`` random points of the ball to 1 (not usable: the logits do not move towards the point, or random
    points already score half as high, so that noise could solve the problem)."""
    f0 = _logits(model, x)
    xb = _known_point(model, x, f0, eps, norm, g)
    d = _logits(model, xb) - f0
    d2 = (d * d).sum(1)
    moves = d2 > 1e-12 * (1 + (f0 * f0).sum(1))
    w = d / d2.clamp_min(1e-30).unsqueeze(1)
    inner = (
        torch.stack([((_logits(model, _inner_point(x, eps, norm, g)) - f0) * w).sum(1) for _ in range(INNER)])
        .amax(0)
        .clamp_min(0)
    )
    usable = moves & (inner < 0.5)
    return {"f0": f0, "w": w, "tau": inner + 0.75 * (1 - inner), "usable": usable, "moves": moves, "x_known": xb}


def pgd7(norm: str, eps: float, alpha: float, generator: torch.Generator):
    """The audit's PGD-7 of each norm: the paper's (alpha, last iterate) for l-inf, PGD-L2 (step eps/5) for l2."""
    if norm == "linf":
        return lambda m, x, y: PGD(ThreatModel(m, "pixel", "eval"), eps, alpha, 7, generator=generator)(x, y)
    from .l2 import pgd_l2

    return lambda m, x, y: pgd_l2(eps, 7)(m)(x, y)


def binarization_test(model, x, eps: float, norm: str = "linf", alpha: float = 0.01, seed: int = 0) -> dict:
    """Zimmermann et al. (2022)'s binarization test of the audit's PGD-7 on images ``x``: in how many of the usable
    inner problems does it find an input beyond the boundary (all are known to have one)?"""
    g = torch.Generator().manual_seed(int(seed) * 7919 + 13)
    p = build_problems(model, x, eps, norm, g)
    idx = torch.nonzero(p["usable"]).flatten().cpu()
    found = torch.zeros(0, dtype=torch.bool)
    if len(idx):
        di = idx.to(x.device)
        head = BinaryHead(model, p["f0"][di], p["w"][di], p["tau"][di])
        torch.manual_seed(int(seed))  # torchattacks' random start
        adv = pgd7(norm, eps, alpha, g)(head, x[di], torch.zeros(len(idx), dtype=torch.long, device=x.device))
        found = (_logits(head, adv).argmax(1) == 1).cpu()
    k, n = int(found.sum()), len(idx)
    return {
        "test": "binarization (Zimmermann et al. 2022)",
        "attack": "PGD-7 (paper)",
        "norm": norm,
        "eps": eps,
        "images": len(x),
        "n": n,
        "found": k,
        "passed": n > 0 and k == n,
        "not_moving": int((~p["moves"]).sum()),
        "noise_reaches": int((p["moves"] & ~p["usable"]).sum()),
        "missed_index": idx[~found].tolist() if n else [],
    }


def sentence(c: dict) -> str:
    """The card's line for a binarization test."""
    if c["n"] == 0:
        return (
            f"Attack check (binarization test, Zimmermann et al. 2022): no usable inner problem on {c['images']} "
            "images (the logits do not move inside the ball, or random points already cross the boundary)."
        )
    text = (
        f"Attack check (binarization test, Zimmermann et al. 2022): {c['attack']} found the known adversarial "
        f"examples in {c['found']} of {c['n']} cases"
    )
    skipped = c["images"] - c["n"]
    return text + (f" ({skipped} of {c['images']} images gave no usable problem)." if skipped else ".")


def indicators(r: dict) -> list[dict]:
    """Indicators of attack failure (Pintor et al. 2022) from a suite result; each ``fired`` with its evidence."""
    out, tr = [], r.get("trace")
    if tr:
        k = min(7, len(tr["mean_loss"]) - 1)
        out.append(
            _ind(
                "silent success",
                tr["wrong_before_right_at_7"] > 0,
                f"{tr['wrong_before_right_at_7']} of {tr['n']} images misclassified at an earlier iterate of "
                f"PGD-7 but not at its last, which PGD-7 returns",
            )
        )
        lo, hi = tr["mean_loss"][k], tr["mean_loss"][-1]
        more = tr["wrong"][-1] - tr["wrong"][k]
        out.append(
            _ind(
                "incomplete optimization",
                hi > lo + 0.05 * abs(lo) and more > 0,
                f"mean loss {lo:.3g} at step {k}, {hi:.3g} at step {tr['steps'][-1]}; "
                f"{100 * more:+.1f} points misclassified",
            )
        )
    zg = {z["space"]: z for z in r.get("zero_gradients", [])}
    z = zg.get("spike") or zg.get("pixel")
    if z:
        out.append(
            _ind(
                "unavailable gradients",
                z["all_zero"] > 0,
                f"{z['all_zero']} of {z['n']} images with an all-zero input gradient ({z['zero_frac']:.1%} of "
                "entries zero)",
            )
        )
    if r.get("sweep"):
        top = max(r["sweep"], key=lambda d: d["eps"])
        out.append(
            _ind(
                "unconstrained attack failure",
                top["n_robust"] > 0,
                f"{top['n_robust']} of {r['n_eval']} images robust at eps {top['eps']:.4g}",
            )
        )
    if r.get("randomness"):
        out.append(
            _ind(
                "unstable predictions",
                not r["randomness"]["deterministic"],
                f"{r['randomness']['kind']}: largest distance of normalised logits "
                f"{r['randomness']['max_logit_distance']:.2g}",
            )
        )
    return out


def _ind(name: str, fired: bool, evidence: str) -> dict:
    return {"indicator": name, "fired": bool(fired), "evidence": evidence, "source": "Pintor et al. 2022"}


def run(
    model,
    x,
    y,
    result: dict,
    eps: float,
    norm: str = "linf",
    alpha: float = 0.01,
    seed: int = 0,
    n_images: int = N_IMAGES,
) -> dict:
    """Both checks on the first ``n_images`` clean-correct images of an audit (``result['per_sample']['clean']``)."""
    clean = torch.tensor(result["per_sample"][R.CLEAN], dtype=torch.bool)
    idx = torch.nonzero(clean).flatten()[:n_images]
    if len(idx) == 0:
        b = {
            "test": "binarization (Zimmermann et al. 2022)",
            "attack": "PGD-7 (paper)",
            "norm": norm,
            "eps": eps,
            "images": 0,
            "n": 0,
            "found": 0,
            "passed": False,
            "not_moving": 0,
            "noise_reaches": 0,
            "missed_index": [],
        }
    else:
        b = binarization_test(model, x[idx.to(x.device)], eps, norm, alpha, seed)
    b["index"] = idx.tolist()
    return {"binarization": b, "sentence": sentence(b), "indicators": indicators(result)}
