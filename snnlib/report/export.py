"""Export every figure (PDF, PNG) and table (CSV, LaTeX) of the book: ``python -m snnlib figures``."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from .. import places, plots
from .figures import fig_attacks, fig_sparsity, fig_sparsity_layers, fig_sweep, sparsity
from .seeds import pooling_deltas
from .tables import paper_vs_ours, parameter_table

FIGURES = {
    "fig1_attacks": fig_attacks,
    "fig2_eps_sweep": fig_sweep,
    "fig3_5_sparsity": fig_sparsity,
    "fig3_5_sparsity_by_layer": fig_sparsity_layers,
    "fig4_sew_block": lambda: plots.sew_block_diagram("max"),
    "eq4_surrogate": plots.surrogate,
}
TABLES = {
    "table1": lambda: paper_vs_ours("1"),
    "table2": lambda: paper_vs_ours("2"),
    "table3": lambda: paper_vs_ours("3"),
    "table3_deltas": pooling_deltas,
    "parameters": parameter_table,
    "sparsity": lambda: sparsity(swap=True),
}


def export_all(out=None) -> dict:
    """Write every figure (PDF, PNG) and table (CSV, LaTeX) of the book (``python -m snnlib figures``)."""
    out = Path(out) if out else places.figures_dir()
    written = []
    for name, make in FIGURES.items():
        fig = make()
        written += plots.savefig(fig, name, out)
        plt.close(fig)
    for name, make in TABLES.items():
        written += plots.save_table(make(), name, out)
    return {
        "command": "figures",
        "profile": places.profile(),
        "final": {"files": len(written)},
        "result_file": str(out),
        "files": [str(p) for p in written],
    }
