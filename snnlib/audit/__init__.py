"""Gradient-obfuscation audit of the "natural robustness" claim (paper Sections 4.2 and 5).

The paper reports the robust accuracy of undefended SEW-ResNets under FGSM and a 7-step PGD,
suspects obfuscated gradients (Section 4.2) and leaves BPDA and EOT open (Section 5). The audit
runs the checks of Athalye et al. (2018) and Carlini et al. (2019) on a trained model and keeps
the per-sample worst case. Modules:

- :mod:`.settings`: what runs, with what budget (:class:`AuditSettings`);
- :mod:`.checks`: one function per item of the suite, and the primitives they share (the gradient
  estimators live in :mod:`snnlib.attacks.estimators`);
- :mod:`.suite`: the state one run shares between the checks;
- :mod:`.records`: typed attack records (:class:`AttackRecord`) and the standard attack ids; :mod:`.legacy` reads
  results written before records had ids;
- :mod:`.diagnostics`: gradient against finite differences, loss landscapes;
- :mod:`.flags`: the red flags, one function each, each decided by an exact test;
- :mod:`.verdict`: the summary, the attribution to attack groups, the verdict sentence;
- :mod:`.run`: the suite on a model, on a config (cached), on a profile;
- :mod:`.tables`: the book's tables;
- :mod:`.api`: ``audit()`` on any model and its report card; :mod:`.verify`: the worst case's adversarial examples
  and ``--verify``; :mod:`.attack_check`: does the attack work on this model; :mod:`.l2`: the l2 suite.
"""

from ..attacks.estimators import (
    ESTIMATOR_LABELS,
    ESTIMATORS,
    SURROGATES,
    encoder_grad,
    estimator,
    rate_gradient,
    swap_surrogate,
)
from .api import AuditReport, ResetEveryCall, audit, model_info, prepare
from .attack_check import binarization_test
from .attack_check import indicators as attack_failure_indicators
from .l2 import run_l2
from .verify import verify as verify_examples
from .checks import CHECKS, GROUPS
from .primitives import (
    input_grads,
    is_deterministic,
    output_range,
    random_noise,
    randomness,
    worst_case,
    zero_gradient_stats,
)
from .flags import FLAG_TEXT, FLAGS, attack_acc, estimator_tests, red_flags
from .verdict import attribution, derive, summary, verdict
from .run import (
    PAPER_AUDITED,
    ann_twin_config,
    audit_key,
    audited_configs,
    available,
    partial_progress,
    progress_note,
    run_config,
    run_profile,
    run_suite,
    snn_transfer_source,
    twin_config,
)
from .records import AttackRecord, attack_records
from .settings import BUDGETS, AuditSettings
from .tables import (
    alignment_table,
    attack_frame,
    attack_table,
    attribution_table,
    estimator_table,
    fired_for,
    flags_table,
    ladder_frame,
    leak_table,
    settings_table,
    strength_frame,
    summary_table,
    sweep_frame,
    switch_table,
    trace_frame,
    zero_grad_table,
)

#: what a user calls (the book also reads the tables and runners above, as attributes of the package)
__all__ = [
    "audit",
    "AuditReport",
    "AuditSettings",
    "BUDGETS",
    "AttackRecord",
    "attack_records",
    "prepare",
    "verify_examples",
    "model_info",
    "run_config",
    "run_l2",
]
