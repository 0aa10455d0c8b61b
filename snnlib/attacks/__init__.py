"""Attacks on SNNs: threat models, FGSM/PGD and their variants (one class each), torchattacks interop.

- :mod:`.threat`: :class:`ThreatModel` (pixel or spike space, BN eval or train), the fast variant
  the evaluation uses, and the pieces every gradient attack shares (random start, projection, loss
  gradient);
- :mod:`.gradient`: FGSM (paper Eq. 2), PGD (Eq. 3), PGD tracking every iterate, EOT-PGD;
- :mod:`.estimators`: backward passes swapped in at attack time (surrogates, RGA, BPTR, the adaptive
  surrogate ASSG, the phase encoder's backward variants);
- :mod:`.adaptive`: step-size-adaptive PGD (SA-PGD), with or without ASSG;
- :mod:`.bpda`: attacks on the exact discrete encoder (spike-space PGD projected on valid encodings,
  a search over the pixel levels eps allows);
- :mod:`.spsa`: SPSA, gradient-free;
- :mod:`.interop`: any torchattacks attack (APGD, Square, FAB, AutoAttack, ...) under a threat model.
"""

from .adaptive import SAPGD, halving_schedule
from .bpda import LevelSearch, SpikeProjectedPGD
from .estimators import (
    ESTIMATOR_LABELS,
    ESTIMATORS,
    SURROGATES,
    adaptive_surrogate,
    bptr,
    encoder_grad,
    estimator,
    omega_of,
    rate_gradient,
    reset_adaptive,
    swap_surrogate,
)
from .gradient import EOTPGD, FGSM, PGD, acc_at, concat_tracks, pgd_trace, pgd_track
from .interop import TORCHATTACKS, AsImages, autoattack_standard, run_torchattack, torchattack
from .spsa import SPSA, margin
from .registry import AUTHORS_BATCH, AUTHORS_EPS, BATCH_ORDERS, PAPER_EPS, THREATS, Threat, batch_indices, threat
from .threat import (
    BN_MODES,
    SPACES,
    Attack,
    FastThreatModel,
    ThreatModel,
    batch_dim,
    bn_mode,
    ce_losses,
    check_count,
    check_eps,
    frozen,
    project,
    random_start,
)

__all__ = [
    "Attack",
    "ThreatModel",
    "FastThreatModel",
    "FGSM",
    "PGD",
    "EOTPGD",
    "SAPGD",
    "SPSA",
    "SpikeProjectedPGD",
    "LevelSearch",
    "pgd_track",
    "pgd_trace",
    "acc_at",
    "concat_tracks",
    "halving_schedule",
    "margin",
    "AsImages",
    "torchattack",
    "run_torchattack",
    "autoattack_standard",
    "TORCHATTACKS",
    "ESTIMATORS",
    "ESTIMATOR_LABELS",
    "SURROGATES",
    "estimator",
    "swap_surrogate",
    "rate_gradient",
    "bptr",
    "encoder_grad",
    "adaptive_surrogate",
    "reset_adaptive",
    "omega_of",
    "bn_mode",
    "frozen",
    "ce_losses",
    "check_eps",
    "check_count",
    "random_start",
    "project",
    "batch_dim",
    "PAPER_EPS",
    "AUTHORS_EPS",
    "SPACES",
    "BN_MODES",
    "THREATS",
    "Threat",
    "threat",
    "batch_indices",
    "BATCH_ORDERS",
    "AUTHORS_BATCH",
]
