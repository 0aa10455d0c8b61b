"""A checkable audit: the adversarial examples behind the per-image worst case, written as ``examples.pt``, and
``python -m snnlib audit --verify DIR`` that checks them with nothing but the model's predictions.

Per image of the audited set that the worst case counts as not robust, :func:`collect` keeps one input that the
model misclassifies: the clean image itself where the model already errs (attack ``clean``), else the example of the
first attack, in suite order, that breaks the image and returns its inputs (gradient attacks, torchattacks,
transfer; attacks that return only a verdict, such as SPSA or the tracked PGD ladder, are skipped). Anyone can then
check that every example lies in the threat model's ball around its clean image and in [0, 1], and that the model
misclassifies it (:func:`verify`): each one that does is a proof that the image is not robust, so the worst-case
accuracy is at most (n - confirmed) / n, whatever the suite's code does (as RobustBench checks submitted
adversarial examples). A model whose forwards differ between calls (stochastic or stateful) may classify an
example differently on the re-run; such examples are reported as not confirmed.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import SnnlibError
from . import records as R

FILE = "examples.pt"
KEYS = ("x_adv", "x", "index", "y", "attack", "eps", "norm")
#: slack of the ball and range checks: float32 rounding of ``x + eps`` and of a projection
TOL = 1e-5


def collect(result: dict, examples: dict, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str) -> dict:
    """The worst case's examples of a suite ``result`` (per-attack ``examples`` of :class:`~.suite.Suite`) over the
    images ``x`` with labels ``y``: a dict of tensors and lists, as :func:`save` writes it."""
    clean = torch.tensor(result["per_sample"][R.CLEAN], dtype=torch.bool)
    worst = torch.tensor(result["per_sample"][R.WORST], dtype=torch.bool)
    chosen = {int(i): ("clean", x[i]) for i in torch.nonzero(~clean).flatten().tolist()}
    order = [(a["id"], a["attack"]) for a in result["attacks"] if a["in_worst_case"] and a["group"] != "clean"]
    for rid, name in order:
        ex = examples.get(rid)
        for i, xa in zip(ex["index"].tolist(), ex["x_adv"], strict=True) if ex else ():
            if not worst[i] and i not in chosen:
                chosen[int(i)] = (name, xa)
    idx = sorted(chosen)
    missing = [i for i in torch.nonzero(~worst).flatten().tolist() if i not in chosen]
    empty = torch.zeros((0, *x.shape[1:]), dtype=x.dtype)
    return {
        "x_adv": torch.stack([chosen[i][1].to(x.dtype) for i in idx]).cpu() if idx else empty,
        "x": x[idx].cpu() if idx else empty,
        "index": torch.tensor(idx, dtype=torch.long),
        "y": y[idx].cpu().long() if idx else torch.zeros(0, dtype=torch.long),
        "attack": [chosen[i][0] for i in idx],
        "eps": float(eps),
        "norm": norm,
        "n": len(y),
        "worst_case_acc": float(worst.float().mean()),
        "without_example": missing,
    }


def save(ex: dict, out_dir) -> Path:
    path = Path(out_dir) / FILE
    torch.save(ex, path)
    return path


def distance(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-example distance in the threat model's norm (``linf`` or ``l2``)."""
    d = (x_adv - x).flatten(1)
    if len(d) == 0:
        return torch.zeros(0)
    return d.abs().amax(1) if norm == "linf" else d.norm(dim=1)


def load(folder) -> dict:
    """``examples.pt`` of an audit's output folder, checked for its keys and shapes (one-line errors)."""
    folder = Path(folder)
    path = folder / FILE
    if not folder.is_dir():
        raise SnnlibError(f"--verify {folder}: no such folder")
    if not path.is_file():
        raise SnnlibError(f"--verify {folder}: no {FILE} in it (an audit writes one into its --out folder)")
    try:
        ex = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise SnnlibError(f"--verify {path}: could not be read ({type(e).__name__})") from None
    missing = [k for k in KEYS if not isinstance(ex, dict) or k not in ex]
    if missing:
        raise SnnlibError(f"--verify {path}: not an audit's examples file (missing {', '.join(missing)})")
    k = len(ex["index"])
    if ex["x_adv"].shape != ex["x"].shape or ex["x"].dim() != 4 or len(ex["x"]) != k or len(ex["y"]) != k:
        raise SnnlibError(
            f"--verify {path}: x_adv {tuple(ex['x_adv'].shape)}, x {tuple(ex['x'].shape)} and {k} indices do not match"
        )
    if ex["norm"] not in ("linf", "l2"):
        raise SnnlibError(f"--verify {path}: unknown norm {ex['norm']!r} (linf or l2)")
    return ex


def check_bounds(ex: dict, where: str = FILE) -> dict:
    """Raise if an example leaves [0, 1] or the eps-ball around its clean image; return the largest distance."""
    xa, eps, norm = ex["x_adv"].float(), float(ex["eps"]), ex["norm"]
    out = torch.maximum((-xa).flatten(1).amax(1), (xa - 1).flatten(1).amax(1)) if len(xa) else torch.zeros(0)
    if (out > TOL).any():
        raise SnnlibError(
            f"{where}: {int((out > TOL).sum())} of {len(xa)} examples leave [0, 1] (by up to {float(out.max()):.3g})"
        )
    dist = distance(xa, ex["x"].float(), norm)
    over = dist - eps
    if (over > TOL).any():
        raise SnnlibError(
            f"{where}: {int((over > TOL).sum())} of {len(xa)} examples lie outside the {norm} ball of "
            f"eps {eps:.4g} around their clean images (by up to {float(over.max()):.3g})"
        )
    return {"max_distance": float(dist.max()) if len(dist) else 0.0}


def verify(
    folder,
    model: torch.nn.Module,
    normalize=None,
    time_major: int | None = None,
    device: str = "cpu",
    batch_size: int = 100,
) -> dict:
    """Check an audit's ``examples.pt`` against ``model``: bounds (:func:`check_bounds`), then the predictions.
    ``confirmed`` are the examples the model misclassifies; ``worst_case_bound`` = (n - confirmed) / n."""
    from . import conventions
    from .wrapping import check_outputs, prepare

    ex = load(folder)
    bounds = check_bounds(ex, str(Path(folder) / FILE))
    xa, y = ex["x_adv"].float(), ex["y"].long()
    if len(xa) == 0:
        return _summary(ex, torch.zeros(0, dtype=torch.bool), bounds)
    m = prepare(conventions.wrap(model, xa, normalize, time_major)).to(device).eval()
    k = check_outputs(m, xa.to(device), None)
    if int(y.max()) >= k:
        raise SnnlibError(f"--verify: the labels go up to {int(y.max())} but the model has {k} outputs")
    with torch.no_grad():
        pred = torch.cat([m(xa[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(y), batch_size)])
    return _summary(ex, pred != y, bounds)


def _summary(ex: dict, wrong: torch.Tensor, bounds: dict) -> dict:
    n, k = int(ex.get("n", len(wrong))), int(wrong.sum())
    bound = (n - k) / n if n else float("nan")
    attacks = ex["attack"]
    return {
        "n": n,
        "examples": len(wrong),
        "confirmed": k,
        "not_confirmed": int((~wrong).sum()),
        "not_confirmed_index": ex["index"][~wrong].tolist(),
        "worst_case_bound": bound,
        "reported_worst_case_acc": ex.get("worst_case_acc"),
        "without_example": len(ex.get("without_example", [])),
        "by_attack": {a: attacks.count(a) for a in dict.fromkeys(attacks)},
        "eps": float(ex["eps"]),
        "norm": ex["norm"],
        **bounds,
        "verified": bool(wrong.all()),
    }


def line(v: dict) -> str:
    """One line for the command line: what the predictions confirm."""
    text = (
        f"{v['confirmed']} of {v['examples']} stored examples are misclassified inside the {v['norm']} ball of eps "
        f"{v['eps']:.4g}: worst-case accuracy at most {v['worst_case_bound']:.3f}"
    )
    if v.get("reported_worst_case_acc") is not None:
        text += f" (the audit reported {v['reported_worst_case_acc']:.3f}"
        k = v["without_example"]
        text += f"; {k} broken image{'s have' if k != 1 else ' has'} no stored example)" if k else ")"
    return text
