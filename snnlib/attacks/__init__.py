"""Attacks on SNNs: threat models, FGSM/PGD and their variants (one class each), torchattacks interop.

- :mod:`.threat`: :class:`ThreatModel` (pixel or spike space, BN eval or train), the fast variant
  the evaluation uses, and the pieces every gradient attack shares (random start, projection, loss
  gradient);
- :mod:`.gradient`: FGSM (paper Eq. 2), PGD (Eq. 3), PGD tracking every iterate, EOT-PGD;
- :mod:`.interop`: any torchattacks attack (APGD, Square, FAB, AutoAttack, ...) under a threat model.
"""

from .gradient import EOTPGD, FGSM, PGD, acc_at, concat_tracks, pgd_track
from .interop import TORCHATTACKS, AsImages, run_torchattack, torchattack
from .threat import (AUTHORS_EPS, BN_MODES, PAPER_EPS, SPACES, THREAT_MODELS, Attack, FastThreatModel, ThreatModel,
                     batch_dim, bn_mode, ce_losses, check_count, check_eps, frozen, project, random_start)

__all__ = ["Attack", "ThreatModel", "FastThreatModel", "FGSM", "PGD", "EOTPGD", "pgd_track", "acc_at",
           "concat_tracks", "AsImages", "torchattack", "run_torchattack", "TORCHATTACKS", "bn_mode", "frozen",
           "ce_losses", "check_eps", "check_count", "random_start", "project", "batch_dim", "PAPER_EPS",
           "AUTHORS_EPS", "SPACES", "BN_MODES", "THREAT_MODELS"]
