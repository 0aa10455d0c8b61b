"""What the audit suite runs, and with what budget: ``quick`` is sized for 2 CPU cores, ``paper`` for a GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .. import places
from ..attacks import AUTHORS_EPS, PAPER_EPS
from ..errors import SnnlibError
from .estimators import ESTIMATORS


@dataclass
class AuditSettings:
    """What the suite runs. ``quick`` is sized for 2 CPU cores, ``paper`` for a GPU runner."""

    n_eval: int = 100  # images, stratified over classes, from the config's attacked subset
    batch_size: int = 50
    eps: float = PAPER_EPS
    alpha: float = 0.01  # the paper's PGD step; also the ladder's
    ladder_steps: list = field(default_factory=lambda: [7, 50, 200])
    ladder_restarts: int = 2
    sweep_eps: list = field(default_factory=lambda: [2 / 255, 4 / 255, 8 / 255, 16 / 255, 32 / 255, 64 / 255])
    sweep_steps: int = 10  # step 2.5 * eps / steps (Madry et al.)
    estimators: list = field(default_factory=lambda: list(ESTIMATORS))
    estimator_steps: int = 10  # step 2.5 * eps / steps
    apgd_steps: int = 10
    square_queries: int = 200
    transfer_steps: int = 10  # step 2.5 * eps / steps, crafted on the source model
    noise_draws: int = 10
    eot_samples: int = 10
    autoattack: bool = False
    authors_eps: float = AUTHORS_EPS
    authors_batch_size: int = 16
    ann_twin: str | None = "ann18_max"  # config name in the same profile; None: derived by twin_config
    seed: int = 0

    @classmethod
    def for_profile(cls, profile_name: str | None = None) -> "AuditSettings":
        p = profile_name or places.profile()
        if p == "paper":
            return cls(n_eval=1000, batch_size=250, sweep_steps=50, estimator_steps=50, apgd_steps=100,
                       square_queries=5000, transfer_steps=50, noise_draws=100, autoattack=True, ann_twin=None)
        return cls()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AuditSettings":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise SnnlibError(f"unknown audit settings {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**d)
