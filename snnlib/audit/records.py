"""Typed attack records of an audit: :class:`AttackRecord`, the standard attack ids, and the one-time reader of
results written before records had ids.

A suite result keeps, per attack, a JSON row (``result["attacks"]``) and the per-image robustness
(``result["per_sample"]``, keyed by id). Flags, attribution, verdicts and tables look attacks up by id and by the
record's fields (group, estimator, steps, queries), never by the display label, which is only shown. Results
written before (rows without ``id``, ``per_sample`` keyed by label) are upgraded on loading by :func:`upgrade`,
the only place that reads a label.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

# ------------------------------------------------------------------ the standard ids

CLEAN, FGSM, PGD7, WORST = "clean", "fgsm", "pgd7", "worst"
SWEEP_STEP = "sweep-step"
APGD_CE, APGD_DLR, SAPGD, ASSG, AUTOATTACK = "apgd-ce", "apgd-dlr", "sapgd", "assg-sapgd", "autoattack"
SPIKE_PGD, LEVEL_SEARCH = "spike-projected-pgd", "level-search"
SQUARE, SPSA, NOISE = "square", "spsa", "noise"
TRANSFER = {"ann": "transfer-ann", "snn": "transfer-snn", "rate": "transfer-rate"}
EOT_PGD, EOT_APGD = "eot-pgd", "eot-apgd-ce"


def ladder(steps: int, restarts: int = 1) -> str:
    """The ladder's PGD with ``steps`` steps (best iterate), over ``restarts`` restarts."""
    return f"ladder-{steps}" + (f"x{restarts}" if restarts > 1 else "")


def estimator(name: str) -> str:
    """PGD with the gradient estimator (or encoder backward) ``name`` swapped in at attack time."""
    return f"estimator:{name}"


def sweep(eps: float) -> str:
    """Per-image robustness of the eps sweep's PGD at ``eps`` (not an attack row: outside the worst case)."""
    return f"sweep:{eps:.6g}"


def switch(space: str, bn: str, attack: str) -> str:
    """The paper's FGSM or PGD-7 (``attack``: ``fgsm`` or ``pgd7``) in ``space`` with BN in ``bn`` mode."""
    return f"switch:{space}/{bn}:{attack}"


def authors(key: str) -> str:
    """One outcome of the authors' evaluation loop (``clean``, ``pgd_leak``, ...)."""
    return f"authors:{key}"


# ------------------------------------------------------------------ the record


@dataclass(frozen=True)
class AttackRecord:
    """One attack of a suite: id, display label, group, estimator, steps, restarts, queries, eps, threat, and the
    per-image outcome (``robust``: True where the image is classified correctly clean and under the attack)."""

    id: str
    label: str
    group: str
    eps: float
    robust: torch.Tensor = field(repr=False, compare=False)
    threat: str = "pixel/eval"
    estimator: str | None = None
    steps: int | None = None
    restarts: int | None = None
    queries: int | None = None
    in_worst_case: bool = True
    contains_black_box: bool = False  # AutoAttack runs Square inside
    stronger_loss: bool = False  # its gain over PGD comes from another loss (DLR, targeted)
    note: str = ""

    @property
    def acc(self) -> float:
        return float(self.robust.float().mean()) if len(self.robust) else float("nan")

    @property
    def n_robust(self) -> int:
        return int(self.robust.sum())

    def row(self) -> dict:
        """The record's JSON row (``attack`` is the label; the outcome is kept in ``per_sample`` under the id)."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("robust", "label")}
        return {"attack": self.label, **d, "acc": self.acc, "n_robust": self.n_robust}


_FIELDS = {f.name for f in dataclasses.fields(AttackRecord)} - {"robust", "label"}


def attack_records(result: dict) -> dict[str, AttackRecord]:
    """``{id: AttackRecord}`` of a suite result, in suite order (rows whose outcome is missing are left out)."""
    ps = result["per_sample"]
    return {
        a["id"]: AttackRecord(
            label=a["attack"],
            robust=torch.as_tensor(ps[a["id"]], dtype=torch.bool),
            **{k: a[k] for k in _FIELDS if k in a},
        )
        for a in result["attacks"]
        if a["id"] in ps
    }


def robust(result: dict) -> dict[str, torch.Tensor]:
    """Every per-image outcome of a result by id (attacks, the sweep, the switches, the authors' loop)."""
    return {k: torch.tensor(v, dtype=torch.bool) for k, v in result["per_sample"].items()}
