"""Audit any PyTorch classifier: ``snnlib.audit.audit(model, x, y, budget=...)`` and its report card.

The model maps images ``[B,C,H,W]`` in [0, 1] to logits ``[B,K]``. It may be any SNN (SpikingJelly,
snnTorch, Norse, hand-written) or an ANN. A model with neurons or state of SpikingJelly, snnTorch or Norse
(the adapters of :mod:`snnlib.neurons`) that is not already a :class:`~snnlib.models.SpikingClassifier` is
reset before and after every forward, each library's way; any other model is called as it is, so a model
that leaks state between calls is flagged (and attacked with EOT).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import neurons, results, stats
from ..errors import SnnlibError, check_images
from ..models import SpikingClassifier
from . import conventions
from .run import run_suite
from .settings import AuditSettings
from .verdict import verdict


class ResetEveryCall(torch.nn.Module):
    """Wrap a network so that the state of its neurons, of any library, is reset before and after every forward
    (:func:`snnlib.neurons.reset`: SpikingJelly's ``reset_net``, snnTorch's ``reset_mem``, Norse state set to None)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        neurons.reset(self.model)
        try:
            return self.model(x)
        finally:
            neurons.reset(self.model)


def prepare(model: torch.nn.Module) -> torch.nn.Module:
    """The model as the audit calls it: networks with SpikingJelly, snnTorch or Norse neurons (or state) reset on
    every call, everything else as it is."""
    if not isinstance(model, torch.nn.Module):
        raise SnnlibError(f"the model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, (SpikingClassifier, ResetEveryCall)):
        return model
    if neurons.holds_state(model):
        return ResetEveryCall(model)
    return model


def check_outputs(model, x, n_classes: int | None) -> int:
    """Run one forward and check the output is ``[B, K]`` logits for ``K`` classes; returns K."""
    with torch.no_grad():
        out = model.eval()(x[: min(4, len(x))])
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != min(4, len(x)):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SnnlibError(f"the model must map images [B,C,H,W] to logits [B,K]; for a batch of {min(4, len(x))} it "
                          f"returned {shape}")
    k = int(out.shape[1])
    if n_classes is not None and k != n_classes:
        raise SnnlibError(f"the model returns {k} outputs per image, but the data have {n_classes} classes")
    return k


@dataclass
class AuditReport:
    """The result of :func:`audit`: ``result`` is the suite's full result dict; the properties are the card."""

    result: dict
    label: str = "model"

    @property
    def card(self) -> dict:
        f = self.result["final"]
        return {"clean_acc": f["clean"]["acc"], "pgd7_acc": f["pgd7"]["acc"], "worst_case_acc": f["worst"]["acc"],
                "worst_case_interval": [f["worst"]["lo"], f["worst"]["hi"]], "n": f["n_eval"],
                "pgd7_vs_worst_case": f["gap_test"], "cause": f["cause"],
                "attacks": [{"name": a["attack"], "group": a["group"], "eps": a["eps"], "acc": a["acc"], "n": a["n"],
                             "interval": [a["lo"], a["hi"]]} for a in self.result["attacks"]],
                "flags": [{"name": x["flag"], "fired": x["fired"], "evidence": x["evidence"], "rule": x["rule"]}
                          for x in self.result["flags"]],
                "attribution": self.result["attribution"], "skipped": self.result.get("skipped", []),
                "verdict": self.result["verdict"], "settings": self.result["settings"], "env": self.result["env"]}

    def to_json(self) -> str:
        return results.portable(json.dumps(self.card, indent=1, default=results._jsonable))

    def to_markdown(self, figure: str | None = None) -> str:
        return render_markdown(self.card, self.label, figure)

    def save(self, out_dir) -> dict:
        """Write ``report.json``, ``report.md`` and the figure ``strength.png`` into ``out_dir``."""
        from .. import plots
        from .tables import strength_frame

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        fig = plots.attack_budget(strength_frame({self.label: self.result}))
        fig.savefig(out / "strength.png")
        (out / "report.json").write_text(self.to_json())
        (out / "report.md").write_text(self.to_markdown("strength.png"))
        return {"json": str(out / "report.json"), "markdown": str(out / "report.md"), "figure": str(out / "strength.png")}


def render_markdown(card: dict, label: str, figure: str | None) -> str:
    """The report card as Markdown: headline, verdict, attacks, flags, attribution, settings."""
    pct = lambda a: f"{100 * a:.1f}%"
    lo, hi = card["worst_case_interval"]
    lines = [f"# Robustness audit: {label}", "",
             "| clean | PGD-7 (paper) | worst case (95% exact interval) | n | cause |", "|---|---|---|---|---|",
             (f"| {pct(card['clean_acc'])} | {pct(card['pgd7_acc'])} | {pct(card['worst_case_acc'])} "
             f"[{pct(lo)}, {pct(hi)}] | {card['n']} | {card['cause']} |"), "", card["verdict"], ""]
    if figure:
        lines += [f"![accuracy against attack strength]({figure})", ""]
    lines += ["## Attacks", "", "| group | attack | accuracy | 95% interval |", "|---|---|---|---|"]
    lines += [f"| {a['group']} | {a['name']} | {pct(a['acc'])} | [{pct(a['interval'][0])}, {pct(a['interval'][1])}] |"
              for a in card["attacks"]]
    lines += ["", "## Red flags", "", "| flag | fired | evidence | rule |", "|---|---|---|---|"]
    lines += [f"| {f['name']} | {'**yes**' if f['fired'] else 'no'} | {f['evidence']} | {f['rule']} |" for f in card["flags"]]
    lines += ["", "## Which attacks remove the robustness", "", "| group | worst case without it | PGD-7 + it alone | needed |",
              "|---|---|---|---|"]
    lines += [f"| {a['group']} | {pct(a['without']['acc'])} | {pct(a['paper_plus_group']['acc'])} | {a['needed']} |"
              for a in card["attribution"]]
    if card["skipped"]:
        lines += ["", "Not applicable to this model: " + "; ".join(f"{s['attack']} ({s['reason']})" for s in card["skipped"])]
    s = card["settings"]
    lines += ["", (f"Budget `{s['budget']}`, eps {s['eps'] * 255:g}/255, seed {s['seed']}; exact intervals at "
              f"{stats.LEVEL:.0%}, every flag an exact test at level {stats.ALPHA}. Made by snnlib "
              f"(`python -m snnlib audit`).")]
    return "\n".join(lines) + "\n"


def audit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, budget: str = "quick", eps: float | None = None,
          seed: int = 0, device: str = "cpu", n_classes: int | None = None, label: str = "model",
          progress: bool | None = None, normalize=None, time_major: int | None = None, **settings) -> AuditReport:
    """Audit ``model`` on images ``x`` (``[N,C,H,W]`` in [0, 1]) with labels ``y``; returns an :class:`AuditReport`.

    ``budget`` is ``quick``, ``standard`` or ``full`` (:class:`AuditSettings`); keyword arguments override single
    settings. No transfer sources are used except the rate-coded twin of a phase-coded SpikingClassifier.
    ``normalize=(mean, std)`` and ``time_major=T`` describe a model with other input/output conventions
    (:mod:`snnlib.audit.conventions`); the attacks stay in pixel space [0, 1].
    """
    check_images(x)
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or len(y) != len(x):
        raise SnnlibError(f"labels must be a 1-d tensor with one entry per image ({len(x)}), got "
                          f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    over = {"seed": seed, "ann_twin": None, "n_eval": len(y), **settings}
    if eps is not None:
        over["eps"] = eps
    s = AuditSettings.for_budget(budget, **over)
    m = prepare(conventions.wrap(model, x, normalize, time_major)).to(device)
    k = check_outputs(m, x.to(device), n_classes)
    if int(y.max()) >= k or int(y.min()) < 0:
        raise SnnlibError(f"labels must lie in 0..{k - 1} (the model has {k} outputs), got {int(y.min())}..{int(y.max())}")
    r = run_suite(m, x, y.long(), s, n_classes=k, device=device, progress=progress)
    r.update({"settings": s.to_dict(), "env": results.environment(device, seed)})
    r["verdict"] = verdict(r, label, f"audit budget {budget}, n = {len(y)}")
    return AuditReport(r, label)
