"""Audit any PyTorch classifier: ``snnlib.audit.audit(model, x, y, budget=...)`` and its report card.

The model maps images ``[B,C,H,W]`` in [0, 1] to logits ``[B,K]``. It may be any SNN (SpikingJelly,
snnTorch, Norse, hand-written) or an ANN. A model with neurons or state of SpikingJelly, snnTorch or Norse
(the adapters of :mod:`snnlib.neurons`) that is not already a :class:`~snnlib.models.SpikingClassifier` is
reset before and after every forward, each library's way; any other model is called as it is, so a model
that leaks state between calls is flagged (and attacked with EOT).

The report is checkable: :meth:`AuditReport.save` writes the worst case's adversarial examples (``examples.pt``,
checked by ``python -m snnlib audit --verify DIR``, :mod:`.verify`) and a RobustBench-style ``model_info.json``;
the card says whether the audit's PGD found known adversarial examples on this model (:mod:`.attack_check`).
``norm="l2"`` runs torchattacks' standard l2 attacks instead (:mod:`.l2`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .. import results, stats
from ..errors import SnnlibError, check_images
from . import attack_check, conventions
from . import records as R
from . import verify as _verify
from .l2 import run_l2
from .run import run_suite
from .settings import AuditSettings
from .suite import keeping_examples
from .verdict import verdict
from .wrapping import ResetEveryCall, check_outputs, prepare  # noqa: F401 (re-exported)

NORMS = ("linf", "l2")


@dataclass
class AuditReport:
    """The result of :func:`audit`: ``result`` is the suite's full result dict; the properties are the card."""

    result: dict
    label: str = "model"
    examples: dict | None = None  # the worst case's adversarial examples (:func:`.verify.collect`)
    meta: dict = field(default_factory=dict)  # e.g. the dataset's name, for model_info.json

    @property
    def card(self) -> dict:
        f, r = self.result["final"], self.result
        aa = next((a for a in r["attacks"] if a["id"] == R.AUTOATTACK), None)
        return {
            "norm": r.get("norm", "linf"),
            "eps": r["settings"]["eps"],
            "clean_acc": f["clean"]["acc"],
            "pgd7_acc": f["pgd7"]["acc"],
            "worst_case_acc": f["worst"]["acc"],
            "worst_case_interval": [f["worst"]["lo"], f["worst"]["hi"]],
            "n": f["n_eval"],
            "pgd7_vs_worst_case": f["gap_test"],
            "cause": f["cause"],
            "attacks": [
                {
                    "id": a["id"],
                    "name": a["attack"],
                    "group": a["group"],
                    "eps": a["eps"],
                    "acc": a["acc"],
                    "n": a["n"],
                    "interval": [a["lo"], a["hi"]],
                }
                for a in self.result["attacks"]
            ],
            "flags": [
                {"name": x["flag"], "fired": x["fired"], "evidence": x["evidence"], "rule": x["rule"]}
                for x in self.result["flags"]
            ],
            "attribution": self.result["attribution"],
            "skipped": self.result.get("skipped", []),
            "autoattack_acc": aa["acc"] if aa else None,
            "attack_check": r.get("attack_check"),
            "examples": None
            if self.examples is None
            else {"stored": len(self.examples["index"]), "without_example": len(self.examples["without_example"])},
            "verdict": self.result["verdict"],
            "settings": self.result["settings"],
            "env": self.result["env"],
        }

    def to_json(self) -> str:
        return results.portable(json.dumps(self.card, indent=1, default=results._jsonable))

    def to_markdown(self, figure: str | None = None) -> str:
        return render_markdown(self.card, self.label, figure)

    def model_info(self) -> dict:
        """RobustBench's ``model_info.json`` fields (accuracies as percent strings), with the worst case's exact
        interval, ``unreliable`` where a red flag fired and a footnote on the attack groups that matter."""
        return model_info(self.card, self.result, self.label, self.meta)

    def save(self, out_dir) -> dict:
        """Write ``report.json``, ``report.md``, the figure ``strength.png``, ``model_info.json`` and (where the
        audit kept them) the worst case's adversarial examples ``examples.pt`` into ``out_dir``."""
        from .. import plots
        from .tables import strength_frame

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        fig = plots.attack_budget(strength_frame({self.label: self.result}))
        fig.savefig(out / "strength.png")
        (out / "report.json").write_text(self.to_json())
        (out / "report.md").write_text(self.to_markdown("strength.png"))
        (out / "model_info.json").write_text(json.dumps(self.model_info(), indent=1) + "\n")
        files = {
            "json": str(out / "report.json"),
            "markdown": str(out / "report.md"),
            "figure": str(out / "strength.png"),
            "model_info": str(out / "model_info.json"),
        }
        if self.examples is not None:
            files["examples"] = str(_verify.save(self.examples, out))
        return files


def _pct(a) -> str | None:
    return None if a is None else f"{100 * a:.2f}"


def eps_text(eps: float, norm: str) -> str:
    """``8/255`` for an l-inf eps on the 8-bit grid, else the number."""
    k = eps * 255
    return f"{round(k)}/255" if norm == "linf" and abs(k - round(k)) < 1e-6 else f"{eps:g}"


def footnote(card: dict, result: dict) -> str:
    """Which attack groups remove the robustness (leave-one-group-out, :func:`.verdict.attribution`), the strongest
    group, the cause and the red flags that fired."""
    f = result["final"]
    needed = [a["group"] for a in card["attribution"] if a["needed"]]
    fired = [x["name"] for x in card["flags"] if x["fired"]]
    lo, hi = card["worst_case_interval"]
    text = (
        f"Worst case per image over {len(card['attacks']) - 1} attacks of the snnlib audit (budget "
        f"{card['settings']['budget']}, n = {card['n']}, 95% exact interval {100 * lo:.1f}-{100 * hi:.1f}%). "
    )
    if f["gap_test"]["a_only"] == 0:
        text += "No attack breaks an image beyond PGD-7; "
    else:
        text += f"Groups needed for it: {', '.join(needed)}; " if needed else "No single group is needed for it; "
        text += f"strongest group with PGD-7: {f.get('strongest_group')}; "
    text += f"cause: {card['cause']}. "
    text += f"Red flags: {', '.join(fired)}." if fired else "No red flag fired."
    check = card.get("attack_check")
    return text + (" " + check["sentence"] if check else "")


def model_info(card: dict, result: dict, label: str, meta: dict | None = None) -> dict:
    """A RobustBench-style ``model_info.json`` (their keys where they exist: ``name``, ``dataset``, ``eps``,
    ``clean_acc``, ``autoattack_acc``, ``unreliable``, ``footnote``; accuracies in percent with two decimals)."""
    f, norm = result["final"], card["norm"]
    b = (card.get("attack_check") or {}).get("binarization")
    return {
        "name": label,
        "dataset": (meta or {}).get("dataset"),
        "threat_model": {"linf": "Linf", "l2": "L2"}[norm],
        "norm": norm,
        "eps": eps_text(card["eps"], norm),
        "n": card["n"],
        "clean_acc": _pct(card["clean_acc"]),
        "clean_interval": [_pct(f["clean"]["lo"]), _pct(f["clean"]["hi"])],
        "autoattack_acc": _pct(card["autoattack_acc"]),
        "worst_case_acc": _pct(card["worst_case_acc"]),
        "worst_case_interval": [_pct(v) for v in card["worst_case_interval"]],
        "pgd7_acc": _pct(card["pgd7_acc"]),
        "unreliable": any(x["fired"] for x in card["flags"]),
        "flags_fired": [x["name"] for x in card["flags"] if x["fired"]],
        "cause": card["cause"],
        "attack_check": None if b is None else {"found": b["found"], "n": b["n"], "passed": b["passed"]},
        "footnote": footnote(card, result),
        "number_forward_passes": 1,
        "audit": f"snnlib audit, budget {card['settings']['budget']}, seed {card['settings']['seed']}",
    }


def render_markdown(card: dict, label: str, figure: str | None) -> str:
    """The report card as Markdown: headline, verdict, attacks, flags, attribution, settings."""

    def pct(a):
        return f"{100 * a:.1f}%"

    lo, hi = card["worst_case_interval"]
    lines = [
        f"# Robustness audit: {label}",
        "",
        "| clean | PGD-7 (paper) | worst case (95% exact interval) | n | cause |",
        "|---|---|---|---|---|",
        (
            f"| {pct(card['clean_acc'])} | {pct(card['pgd7_acc'])} | {pct(card['worst_case_acc'])} "
            f"[{pct(lo)}, {pct(hi)}] | {card['n']} | {card['cause']} |"
        ),
        "",
        card["verdict"],
        "",
    ]
    if figure:
        lines += [f"![accuracy against attack strength]({figure})", ""]
    lines += ["## Attacks", "", "| group | attack | accuracy | 95% interval |", "|---|---|---|---|"]
    lines += [
        f"| {a['group']} | {a['name']} | {pct(a['acc'])} | [{pct(a['interval'][0])}, {pct(a['interval'][1])}] |"
        for a in card["attacks"]
    ]
    lines += ["", "## Red flags", "", "| flag | fired | evidence | rule |", "|---|---|---|---|"]
    lines += [
        f"| {f['name']} | {'**yes**' if f['fired'] else 'no'} | {f['evidence']} | {f['rule']} |" for f in card["flags"]
    ]
    lines += [
        "",
        "## Which attacks remove the robustness",
        "",
        "| group | worst case without it | PGD-7 + it alone | needed |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {a['group']} | {pct(a['without']['acc'])} | {pct(a['paper_plus_group']['acc'])} | {a['needed']} |"
        for a in card["attribution"]
    ]
    if card["skipped"]:
        lines += [
            "",
            "Not applicable to this model: " + "; ".join(f"{s['attack']} ({s['reason']})" for s in card["skipped"]),
        ]
    lines += _attack_check_lines(card.get("attack_check"))
    s, norm = card["settings"], card.get("norm", "linf")
    eps = f"eps {s['eps'] * 255:g}/255" if norm == "linf" else f"l2 eps {s['eps']:g}"
    lines += [
        "",
        (
            f"Budget `{s['budget']}`, {eps}, seed {s['seed']}; exact intervals at "
            f"{stats.LEVEL:.0%}, every flag an exact test at level {stats.ALPHA}. Made by snnlib "
            f"(`python -m snnlib audit`)."
        ),
    ]
    return "\n".join(lines) + "\n"


def _attack_check_lines(c: dict | None) -> list[str]:
    if not c:
        return []
    lines = ["", "## Does the attack work on this model?", "", c["sentence"], ""]
    if c["indicators"]:
        lines += ["| indicator of attack failure (Pintor et al. 2022) | fired | evidence |", "|---|---|---|"]
        lines += [
            f"| {i['indicator']} | {'**yes**' if i['fired'] else 'no'} | {i['evidence']} |" for i in c["indicators"]
        ]
    return lines


def audit(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    budget: str = "quick",
    eps: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    n_classes: int | None = None,
    label: str = "model",
    progress: bool | None = None,
    normalize=None,
    time_major: int | None = None,
    norm: str = "linf",
    dataset: str | None = None,
    **settings,
) -> AuditReport:
    """Audit ``model`` on images ``x`` (``[N,C,H,W]`` in [0, 1]) with labels ``y``; returns an :class:`AuditReport`.

    ``budget`` is ``quick``, ``standard`` or ``full`` (:class:`AuditSettings`); keyword arguments override single
    settings. No transfer sources are used except the rate-coded twin of a phase-coded SpikingClassifier.
    ``normalize=(mean, std)`` and ``time_major=T`` describe a model with other input/output conventions
    (:mod:`snnlib.audit.conventions`); the attacks stay in pixel space [0, 1]. ``norm`` is ``linf`` (default eps
    8/255) or ``l2`` (default eps 0.5, torchattacks' standard l2 attacks, :mod:`.l2`). The report keeps the worst
    case's adversarial examples and the attack check (:mod:`.attack_check`); ``dataset`` names the data in
    ``model_info.json``.
    """
    check_images(x)
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or len(y) != len(x):
        raise SnnlibError(
            f"labels must be a 1-d tensor with one entry per image ({len(x)}), got "
            f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}"
        )
    s = _settings(budget, eps, norm, seed, len(y), settings)
    m = prepare(conventions.wrap(model, x, normalize, time_major)).to(device)
    k = check_outputs(m, x.to(device), n_classes)
    if int(y.max()) >= k or int(y.min()) < 0:
        raise SnnlibError(
            f"labels must lie in 0..{k - 1} (the model has {k} outputs), got {int(y.min())}..{int(y.max())}"
        )
    if norm == "l2":
        r = run_l2(m, x, y.long(), s, n_classes=k, device=device, progress=progress)
    else:
        with keeping_examples():
            r = run_suite(m, x, y.long(), s, n_classes=k, device=device, progress=progress)
    ex = _verify.collect(r, r.pop("examples", {}), x.cpu(), y.cpu(), s.eps, norm)
    r.update({"settings": s.to_dict(), "env": results.environment(device, seed)})
    r["attack_check"] = attack_check.run(m, x.to(device), y, r, s.eps, norm, s.alpha, seed)
    r["verdict"] = verdict(r, label, f"audit budget {budget}, n = {len(y)}")
    return AuditReport(r, label, ex, {"dataset": dataset})


def _settings(budget: str, eps: float | None, norm: str, seed: int, n: int, settings: dict) -> AuditSettings:
    """The suite's settings; for ``l2`` the eps is an l2 radius (default 0.5, any positive value; a warning on
    stderr where it looks like an l-inf value)."""
    if norm not in NORMS:
        raise SnnlibError(f"--norm must be linf or l2, got {norm!r}")
    over = {"seed": seed, "ann_twin": None, "n_eval": n, **settings}
    if norm == "linf":
        return AuditSettings.for_budget(budget, **over, **({} if eps is None else {"eps": eps}))
    eps = 0.5 if eps is None else eps
    if not isinstance(eps, (int, float)) or not eps > 0:
        raise SnnlibError(f"--eps for --norm l2 must be a positive l2 radius (e.g. 0.5), got {eps!r}")
    if eps <= 0.05:
        print(
            f"warning: --norm l2 with eps {eps:g} looks like an l-inf value; l2 radii on CIFAR are typically 0.5",
            file=sys.stderr,
        )
    return replace(AuditSettings.for_budget(budget, **over), eps=float(eps))  # an l2 radius may exceed 1
