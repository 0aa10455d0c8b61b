"""The book's tables, figures, claims and exports, assembled from cached experiments.

- :mod:`.tables`: evaluations and the paper's Tables 1-3 next to ours, Table 3's deltas, the eps
  sweep, parameter counts;
- :mod:`.figures`: Fig. 1 (adversarial examples), Fig. 2, Figs. 3/5 (gradient sparsity probes);
- :mod:`.claims`: each empirical claim with our measurement and a verdict by a stated rule;
- :mod:`.export`: every figure and table to files (``python -m snnlib figures``).
"""

from .claims import CLAIMS, claims
from .export import FIGURES, TABLES, export_all
from .figures import example_attacks, fig_attacks, fig_sparsity, fig_sparsity_layers, fig_sweep, sparsity
from .tables import (ARCH_LABEL, THREAT_LABEL, configs, evaluation, evaluations, label, main_config, paper_vs_ours,
                     parameter_table, pooling_deltas, profile_facts, scale, sweep)

__all__ = ["claims", "CLAIMS", "export_all", "FIGURES", "TABLES", "example_attacks", "fig_attacks", "fig_sparsity",
           "fig_sparsity_layers", "fig_sweep", "sparsity", "ARCH_LABEL", "THREAT_LABEL", "configs", "evaluation",
           "evaluations", "label", "main_config", "profile_facts", "paper_vs_ours", "parameter_table", "pooling_deltas", "scale", "sweep"]
