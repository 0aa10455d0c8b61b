"""Gradient-obfuscation audit of the "natural robustness" claim (paper Sections 4.2 and 5).

The paper reports the robust accuracy of undefended SEW-ResNets under FGSM and a 7-step PGD,
suspects obfuscated gradients (Section 4.2) and leaves BPDA and EOT open (Section 5). The audit
runs the checks of Athalye et al. (2018) and Carlini et al. (2019) on a trained model and keeps
the per-sample worst case. Modules:

- :mod:`.settings`: what runs, with what budget (:class:`AuditSettings`);
- :mod:`.estimators`: gradient estimators swapped in at attack time;
- :mod:`.checks`: one function per item of the suite, and the primitives they share;
- :mod:`.suite`: the state one run shares between the checks;
- :mod:`.flags`: the red flags (one function each), the summary and the verdict;
- :mod:`.run`: the suite on a model, on a config (cached), on a profile;
- :mod:`.tables`: the book's tables.
"""

from .checks import CHECKS, input_grads, is_deterministic, random_noise, worst_case, zero_gradient_stats
from .estimators import ESTIMATOR_LABELS, ESTIMATORS, SURROGATES, encoder_grad, estimator, rate_gradient, swap_surrogate
from .flags import FLAG_TEXT, FLAGS, attack_acc, derive, red_flags, verdict
from .run import (PAPER_AUDITED, ann_twin_config, audit_key, audited_configs, run_config, run_profile, run_suite,
                  snn_transfer_source, twin_config)
from .settings import AuditSettings
from .tables import (attack_frame, estimator_table, fired_for, flags_table, ladder_frame, leak_table, settings_table,
                     summary_table, sweep_frame, switch_table, zero_grad_table)

__all__ = ["AuditSettings", "CHECKS", "FLAGS", "FLAG_TEXT", "ESTIMATORS", "ESTIMATOR_LABELS", "SURROGATES",
           "PAPER_AUDITED", "run_suite", "run_config", "run_profile", "audited_configs", "twin_config",
           "snn_transfer_source", "ann_twin_config", "audit_key", "derive", "red_flags", "verdict", "attack_acc",
           "estimator", "swap_surrogate", "rate_gradient", "encoder_grad", "worst_case", "zero_gradient_stats",
           "is_deterministic", "random_noise", "input_grads", "summary_table", "attack_frame", "ladder_frame",
           "sweep_frame", "estimator_table", "flags_table", "switch_table", "leak_table", "zero_grad_table",
           "fired_for", "settings_table"]
