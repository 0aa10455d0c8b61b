"""The book's tables, figures, verdicts and exports, assembled from cached experiments.

- :mod:`.tables`: evaluations and the paper's Tables 1-3 next to ours, Table 3's deltas, the eps
  sweep, parameter counts;
- :mod:`.figures`: Fig. 1 (adversarial examples), Fig. 2, Figs. 3/5 (gradient sparsity probes);
- :mod:`.verdicts`: each empirical claim with our measurement and a verdict by a stated rule;
- :mod:`.export`: every figure and table to files (``python -m snnlib figures``).
"""

from .verdicts import CLAIMS, block_finding, block_zeros, claims, claims_all, verdict_overview
from .export import FIGURES, TABLES, export_all
from .figures import (
    authors_probe,
    closest_candidates,
    example_attacks,
    fig_attacks,
    fig_sparsity,
    fig_sparsity_layers,
    fig_sweep,
    probe_candidates,
    sparsity,
    weight_sparsity,
)
from .seeds import compare_models, pooling_deltas
from .tables import (
    ARCH_LABEL,
    adversarial_runs,
    THREAT_LABEL,
    THREATS,
    by_role,
    configs,
    controls_table,
    data_provenance,
    evaluation,
    evaluations,
    label,
    main_config,
    outcomes,
    paper_vs_ours,
    parameter_table,
    profile_facts,
    scale,
    use_profile,
    seed_outcomes,
    seeds_frame,
    shape_table,
    stem_output_size,
    sweep,
)

__all__ = [
    "adversarial_runs",
    "claims",
    "claims_all",
    "block_zeros",
    "block_finding",
    "CLAIMS",
    "authors_probe",
    "closest_candidates",
    "probe_candidates",
    "weight_sparsity",
    "export_all",
    "FIGURES",
    "TABLES",
    "example_attacks",
    "fig_attacks",
    "fig_sparsity",
    "fig_sparsity_layers",
    "fig_sweep",
    "sparsity",
    "ARCH_LABEL",
    "THREAT_LABEL",
    "configs",
    "evaluation",
    "evaluations",
    "label",
    "main_config",
    "profile_facts",
    "use_profile",
    "paper_vs_ours",
    "THREATS",
    "by_role",
    "compare_models",
    "controls_table",
    "data_provenance",
    "outcomes",
    "seed_outcomes",
    "seeds_frame",
    "shape_table",
    "parameter_table",
    "pooling_deltas",
    "scale",
    "stem_output_size",
    "sweep",
]
