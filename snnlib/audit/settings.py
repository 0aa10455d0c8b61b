"""What the audit suite runs, and with what budget.

Three budgets (:data:`BUDGETS`): ``quick`` (a few minutes on a CPU for 100 CIFAR-sized images, the quick
profile's), ``standard`` (the book's suite at a larger budget) and ``full`` (adds AutoAttack's standard
version and the gradient-free attacks at full budget: Square with 5,000 queries, SPSA). The medium
and paper profiles use ``full``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from .. import places
from ..attacks import AUTHORS_EPS, ESTIMATORS, PAPER_EPS
from ..errors import SnnlibError, check_choice

BUDGETS = ("quick", "standard", "full")
#: which budget each profile's configs are audited with
PROFILE_BUDGET = {"quick": "quick", "medium": "full", "paper": "full"}


@dataclass
class AuditSettings:
    """What the suite runs. See :meth:`for_budget` for the three budgets."""

    budget: str = "quick"
    n_eval: int = 100  # images, stratified over classes, from the config's attacked subset
    batch_size: int = 50
    eps: float = PAPER_EPS
    alpha: float = 0.01  # the paper's PGD step; also the ladder's
    ladder_steps: list = field(default_factory=lambda: [7, 50, 200])
    ladder_restarts: int = 2
    trace_steps: int = 50  # the paper's PGD followed for this many steps, loss and prediction at every iterate
    sweep_eps: list = field(default_factory=lambda: [2 / 255, 4 / 255, 8 / 255, 16 / 255, 32 / 255, 64 / 255, 0.5, 1.0])
    sweep_steps: int = 10  # step 2.5 * eps / steps (Madry et al.)
    estimators: list = field(
        default_factory=lambda: [
            "atan-0.5",
            "atan-2",
            "atan-8",
            "sigmoid-4",
            "rect-1",
            "rga",
            "bptr",
            "encoder-omega",
            "encoder-flip",
            "encoder-none",
        ]
    )
    estimator_steps: int = 10  # step 2.5 * eps / steps
    apgd_steps: int = 10
    sapgd_steps: int = 20  # SA-PGD, with the training surrogate and with ASSG
    assg_A: list = field(default_factory=lambda: [0.425])  # ASSG's tolerated vanishing degree, searched over this grid
    level_steps: int = 10  # the discrete encoder attacks
    square_queries: int = 200
    spsa_steps: int = 10
    spsa_samples: int = 16
    transfer_steps: int = 10  # step 2.5 * eps / steps, crafted on the source model
    noise_draws: int = 10
    eot_samples: int = 10
    autoattack: bool = False  # AutoAttack, standard version, original budget
    autoattack_steps: int = 100
    autoattack_queries: int = 5000
    diagnostics_images: int = 4  # gradient vs finite differences, loss landscape
    authors_eps: float = AUTHORS_EPS
    authors_batch_size: int = 16
    ann_twin: str | None = "ann18_max"  # config name in the same profile; None: derived by twin_config
    seed: int = 0

    @classmethod
    def for_budget(cls, budget: str = "quick", **over) -> "AuditSettings":
        """``quick``, ``standard`` or ``full`` (see the module docstring); keywords override single settings."""
        if budget not in BUDGETS:
            raise SnnlibError(f"unknown audit budget {budget!r}; expected one of: {', '.join(BUDGETS)}")
        s = cls(budget=budget)
        if budget != "quick":
            s = replace(
                s,
                sweep_steps=50,
                estimator_steps=50,
                apgd_steps=100,
                sapgd_steps=100,
                assg_A=[0.35, 0.4, 0.425, 0.45, 0.49],
                level_steps=20,
                square_queries=1000,
                spsa_steps=20,
                spsa_samples=32,
                transfer_steps=50,
                noise_draws=100,
                batch_size=100,
            )
        if budget == "full":
            s = replace(s, square_queries=5000, spsa_steps=50, spsa_samples=64, autoattack=True)
        return s.validated(**over)

    @classmethod
    def for_profile(cls, profile_name: str | None = None) -> "AuditSettings":
        p = profile_name or places.profile()
        s = cls.for_budget(PROFILE_BUDGET.get(p, "quick"))
        if p == "medium":
            return s.validated(n_eval=500)
        if p == "paper":
            return s.validated(n_eval=1000, batch_size=250, ann_twin=None)
        return s

    def validated(self, **over) -> "AuditSettings":
        """A copy with ``over`` applied, checked: budgets positive, eps in [0, 1]."""
        s = replace(self, **over)
        for f in (
            "n_eval",
            "batch_size",
            "ladder_restarts",
            "trace_steps",
            "sweep_steps",
            "estimator_steps",
            "apgd_steps",
            "sapgd_steps",
            "level_steps",
            "square_queries",
            "spsa_steps",
            "spsa_samples",
            "transfer_steps",
            "noise_draws",
            "eot_samples",
            "autoattack_steps",
            "autoattack_queries",
            "authors_batch_size",
        ):
            v = getattr(s, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SnnlibError(f"audit setting {f} must be a positive integer, got {v!r}")
        if not s.ladder_steps or any(not isinstance(k, int) or k < 1 for k in s.ladder_steps):
            raise SnnlibError(f"audit setting ladder_steps must be positive integers, got {s.ladder_steps!r}")
        for name, v in (
            ("eps", s.eps),
            ("alpha", s.alpha),
            ("authors_eps", s.authors_eps),
            *[("sweep_eps", e) for e in s.sweep_eps],
        ):
            if not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise SnnlibError(f"audit setting {name} must lie in [0, 1] (pixel units), got {v!r}")
        for e in s.estimators:
            check_choice("audit estimator", e, ESTIMATORS)
        if any(not 0 < a < 0.5 for a in s.assg_A):
            raise SnnlibError(f"audit setting assg_A must lie in (0, 0.5), got {s.assg_A!r}")
        return s

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AuditSettings":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise SnnlibError(f"unknown audit settings {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**d)
