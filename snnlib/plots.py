"""One figure style for the book and the exports; ``savefig`` to PDF and PNG, tables to CSV and LaTeX.

Every plotting function takes tensors or tidy DataFrames and returns a
matplotlib Figure. :func:`snnlib.report.export_all` (``python -m snnlib figures``) writes
every figure and table the book shows into ``figures/``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import places

PALETTE = {"max": "#c44e52", "avg": "#4c72b0", "spiking": "#55a868", "ann": "#8172b3"}


def use_style() -> None:
    """The one style: seaborn whitegrid, paper context, consistent sizes."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 200,
            "savefig.bbox": "tight",
            "axes.titleweight": "bold",
            "figure.max_open_warning": 0,
        }
    )


use_style()


def savefig(fig, name: str, out=None) -> list[Path]:
    """Write ``fig`` as ``<out>/<name>.pdf`` and ``.png`` (default ``figures/``)."""
    out = Path(out) if out else places.figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{ext}" for ext in ("pdf", "png")]
    for p in paths:
        fig.savefig(p)
    return paths


def save_table(df: pd.DataFrame, name: str, out=None, floatfmt: str = "%.2f") -> list[Path]:
    """Write ``df`` as ``<out>/<name>.csv`` and ``.tex`` (default ``figures/``)."""
    out = Path(out) if out else places.figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    csv, tex = out / f"{name}.csv", out / f"{name}.tex"
    df.to_csv(csv, index=False)
    tex.write_text(df.to_latex(index=False, float_format=lambda v: floatfmt % v, na_rep="--"))
    return [csv, tex]


def md_table(df: pd.DataFrame, caption: str, name: str, floatfmt: str = ".2f", **kw):
    """A numbered, cross-referenceable MyST table (``{numref}`name```) for a notebook cell's output.

    Extra keywords go to :func:`tabulate.tabulate` (e.g. ``intfmt=","``).
    """
    from IPython.display import Markdown

    if df.empty:  # keep the table (and its reference) valid, and say why it has no rows
        df, kw = pd.DataFrame({"": ["no rows in the result this was built from"]}), {}
    # a '|' inside a cell would split it and shift the columns after it; build the column as object so that
    # ints beside blanks stay ints (Series.map would turn them into floats)
    esc = {
        c: pd.Series([v.replace("|", "\\|") if isinstance(v, str) else v for v in df[c]], index=df.index, dtype=object)
        for c in df.columns
        if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])
    }
    df = df.assign(**esc)
    df = df.astype(object).where(df.notna(), None)  # tabulate's missingval replaces None, not NaN
    body = df.to_markdown(index=False, floatfmt=floatfmt, missingval="–", **kw)
    return Markdown(
        f":::{{table}} {caption}\n:name: {name}\n:align: center\n\n{body}\n:::"
    )  # colon fence: roles may go in the caption


# ------------------------------------------------------------------ figures


def bit_planes(image, spikes, classes=None, title=None):
    """An 8-bit image and its T phase-coded spike planes (paper Section 4.1)."""
    T = spikes.shape[0]
    fig, axes = plt.subplots(1, T + 1, figsize=(1.25 * (T + 1), 1.9))
    axes[0].imshow(image.permute(1, 2, 0).numpy())
    axes[0].set_title(title or "image", fontsize=9)
    for t in range(T):
        axes[t + 1].imshow(spikes[t].permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[t + 1].set_title(f"t={t + 1}", fontsize=9)
    for a in axes:
        a.set_xticks([]), a.set_yticks([])
    return fig


def surrogate(alphas=(0.5, 2.0, 8.0), xlim=3.0):
    """The Heaviside spike and the ATan surrogate derivative of Eq. 4 for several alpha."""
    x = np.linspace(-xlim, xlim, 601)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 2.8))
    a.plot(x, (x >= 0).astype(float), "k", lw=2, label="Heaviside Θ (forward)")
    for al in alphas:
        a.plot(x, np.arctan(np.pi / 2 * al * x) / np.pi + 0.5, label=f"ATan primitive, α={al:g}")
        b.plot(x, al / (2 * (1 + (np.pi / 2 * al * x) ** 2)), label=f"α={al:g}" + (" (paper)" if al == 2 else ""))
    a.set(xlabel="u − V_th", title="forward")
    b.set(xlabel="u − V_th", title="backward: ∂Θ/∂x (Eq. 4)")
    a.legend(fontsize=7), b.legend(fontsize=8)
    return fig


def image_grid(rows: dict, col_titles=None, diff_scale=None):
    """A grid of images: one row per entry of ``rows`` (label -> tensor [N,C,H,W] in [0,1]).

    Rows whose label starts with ``"|Δ|"`` are shown as magnified differences.
    """
    labels = list(rows)
    n = rows[labels[0]].shape[0]
    fig, axes = plt.subplots(len(labels), n, figsize=(1.5 * n, 1.5 * len(labels)), squeeze=False)
    for i, lab in enumerate(labels):
        for j in range(n):
            img = rows[lab][j].permute(1, 2, 0).numpy()
            ax = axes[i, j]
            if lab.startswith("|Δ|"):
                ax.imshow(np.abs(img).max(-1), cmap="magma", vmin=0, vmax=diff_scale or np.abs(img).max() or 1)
            else:
                ax.imshow(np.clip(img, 0, 1))
            ax.set_xticks([]), ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(lab, fontsize=8)
            if i == 0 and col_titles is not None:
                ax.set_title(col_titles[j], fontsize=8)
    return fig


def eps_sweep(df: pd.DataFrame):
    """Accuracy against eps (Fig. 2). ``df``: columns eps (pixel units), acc, attack, model."""
    d = df.assign(eps255=df.eps * 255)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
    for ax, atk in zip(axes, ["FGSM", "PGD"]):
        sns.lineplot(d[d.attack == atk], x="eps255", y="acc", hue="model", style="threat", markers=True, ax=ax)
        ax.set(title=atk, xlabel="ε × 255", ylabel="accuracy")
        ax.set_xticks(sorted(d.eps255.unique()))
    axes[1].legend(fontsize=7)
    axes[0].get_legend().remove() if axes[0].get_legend() else None
    return fig


def sparsity_bars(df: pd.DataFrame, hue: str = "model"):
    """Per-op zero fraction and l2 norm of the gradient (Figs. 3 and 5): one bar per op kind and model."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
    order = [o for o in ["input", "conv", "BN", "IF neuron", "pooling", "residual add", "linear"] if o in set(df.op)]
    sns.barplot(df, x="op", y="zero_frac", hue=hue, order=order, ax=a, errorbar=None)
    sns.barplot(df, x="op", y="grad_l2", hue=hue, order=order, ax=b, errorbar=None)
    sns.move_legend(a, "upper center", bbox_to_anchor=(1.1, -0.32), ncol=3, title=None, frameon=False)
    a.set(ylabel="fraction of exact zeros", xlabel="", title="gradient sparsity (mean over ops)")
    b.set(ylabel="mean per-sample ‖∇‖₂", xlabel="", title="gradient norm (mean over ops)")
    for ax in (a, b):
        ax.tick_params(axis="x", rotation=30)
    b.get_legend().remove()
    return fig


def sparsity_by_layer(df: pd.DataFrame, hue: str = "model"):
    """Zero fraction of the gradient at every probed op, in network order."""
    fig, ax = plt.subplots(figsize=(10, 3))
    sns.lineplot(df, x="order", y="zero_frac", hue=hue, marker="o", ax=ax)
    ax.set(xlabel="op index (input → output)", ylabel="fraction of exact zeros")
    return fig


def sew_block_diagram(pool: str = "max"):
    """Schematic of the SEW-ResNet stem and one SEW residual block (after Fang et al. 2021; paper Fig. 4)."""
    fig, ax = plt.subplots(figsize=(10, 2.4))
    boxes = [
        ("spikes\nT×B×3\n×H×W", "#dddddd"),
        ("conv\n7×7/2", "#e8e8f8"),
        ("BN", "#e8e8f8"),
        ("IF", "#fde0c5"),
        (f"{pool} pool\n3×3/2", PALETTE[pool]),
        ("conv\n3×3", "#e8e8f8"),
        ("BN", "#e8e8f8"),
        ("IF", "#fde0c5"),
        ("conv\n3×3", "#e8e8f8"),
        ("BN", "#e8e8f8"),
        ("IF", "#fde0c5"),
        ("ADD", "#f3f3b0"),
    ]
    for i, (txt, col) in enumerate(boxes):
        ax.add_patch(plt.Rectangle((i * 1.15, 0), 1.0, 0.8, fc=col, ec="k"))
        ax.text(
            i * 1.15 + 0.5,
            0.4,
            txt,
            ha="center",
            va="center",
            fontsize=7,
            color="white" if col == PALETTE.get(pool) else "k",
        )
        if i:
            ax.annotate("", (i * 1.15, 0.4), (i * 1.15 - 0.15, 0.4), arrowprops=dict(arrowstyle="->"))
    ax.annotate(
        "",
        (11 * 1.15 + 0.5, 0.8),
        (5 * 1.15 - 0.08, 0.8),
        arrowprops=dict(arrowstyle="->", connectionstyle="arc3,rad=-0.25", color="#555555"),
    )
    ax.text(8 * 1.15, 1.45, "identity (spikes) — SEW ADD", ha="center", fontsize=8, color="#555555")
    ax.text(2.3, -0.35, "stem", ha="center", fontsize=8)
    ax.text(8.6, -0.35, "SEW basic block (×2 per stage, 4 stages)", ha="center", fontsize=8)
    ax.set_xlim(-0.2, 14), ax.set_ylim(-0.6, 1.8), ax.axis("off")
    return fig


# ------------------------------------------------------------------ theory chapter


def vulnerability_ratios(vr: pd.DataFrame):
    """Theorem 4.1 per image: measured rho_adv / rho_rand, the first-order ratio of Eq. 28, the bounds of Eq. 31."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    idx = np.arange(len(vr))
    ax.scatter(idx, vr.ratio, label="measured ratio (lower estimate)", zorder=3)
    ax.scatter(idx, vr.first_order_ratio, marker="x", label="first-order ratio (Eq. 28)", zorder=3)
    ax.axhline(3, color="k", lw=1, ls="--", label="bounds of Eq. 31")
    ax.axhline(vr.bound_high.iloc[0], color="k", lw=1, ls="--")
    ax.set(yscale="log", xlabel="test image", ylabel=r"$\rho_{adv}/\rho_{rand}$", xticks=idx[::2])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def bound_heatmaps(grid: pd.DataFrame):
    """Theorem 4.4 over a grid: left side over the bound, with Eq. 13's definitions and with autograd."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, col, title in zip(axes, ("ratio_eq13", "ratio_ag"), ("Eq. 13 definitions", "autograd Jacobians of Eq. 8")):
        tab = grid.pivot_table(index=["w_density", "s_density"], columns=["d", "T"], values=col)
        tab = tab.sort_index(axis=0).sort_index(axis=1)
        labels = tab.map(lambda r: f"{r:.2f}" if r < 10 else f"{r:.0f}")
        sns.heatmap(
            np.log10(tab),
            ax=ax,
            annot=labels,
            fmt="",
            center=0,
            vmin=-1,
            vmax=3.5,
            cmap="RdBu_r",
            cbar=ax is axes[1],
            cbar_kws={"label": "log10(left / right)"},
            annot_kws={"size": 7},
        )
        ax.set_xticklabels([f"{d}, {T}" for d, T in tab.columns], rotation=0)
        ax.set_yticklabels([f"{w} / {s}" for w, s in tab.index], rotation=0)
        ax.set(title=title, xlabel="d, T", ylabel="weight / spike density" if ax is axes[0] else "")
    fig.tight_layout()
    return fig


def snr_over_time(snr_df: pd.DataFrame):
    """Theorem B.1: sup-SNR and l2 SNR of a layer's gradient against the number of time steps, per seed."""
    Ts = sorted(snr_df["T"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharex=True)
    for ax, col, title in zip(
        axes, ("snr_inf", "snr_2"), (r"sup-SNR ($\ell_\infty$, Theorem B.1)", r"SNR ($\ell_2$, Eq. 33)")
    ):
        sns.lineplot(
            snr_df, x="T", y=col, hue="state", units="seed", estimator=None, marker="o", ax=ax, legend=ax is axes[0]
        )
        ax.set(title=title, ylabel="", xticks=Ts)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ audit chapter


def attack_strength(df: pd.DataFrame, x: str, xlabel: str, log: str | None = "symlog", marks=()):
    """Robust accuracy against attack strength (steps, eps, queries, ...), one line per model.

    ``df``: columns ``model``, ``x`` and ``acc`` (fraction); ``marks``: x positions to mark (dashed).
    """
    from matplotlib.ticker import FuncFormatter, NullLocator, PercentFormatter

    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.lineplot(
        data=df,
        x=x,
        y="acc",
        hue="model",
        marker="o" if log != "symlog" else None,
        drawstyle="steps-post" if log == "symlog" else "default",
        ax=ax,
    )
    if log == "symlog":
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(0, df[x].max())
    elif log == "log2":
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(df[x].unique()))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set(xlabel=xlabel, ylabel="robust accuracy")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    for k in marks:
        ax.axvline(k, color="0.7", lw=0.8, ls="--")
    return fig


def attack_budget(df: pd.DataFrame):
    """Robust accuracy against attack budget (forward or backward passes per image), one panel per model and one
    colour per attack family. ``df``: columns ``model``, ``family``, ``budget``, ``acc`` (fraction), and ``curve``
    (True for the rows of the PGD ladder, drawn as a line; the others are points)."""
    from matplotlib.ticker import PercentFormatter

    models = list(dict.fromkeys(df.model))
    cols = min(3, len(models))
    rows = -(-len(models) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, sharey=True)
    for ax, name in zip(axes.flat, models):
        d = df[df.model == name]
        line = d[d.curve]
        ax.plot(
            line.budget, line.acc, drawstyle="steps-post", color="0.3", label=line.family.iloc[0] if len(line) else None
        )
        pts = d[~d.curve]
        sns.scatterplot(pts, x="budget", y="acc", hue="family", style="family", s=60, ax=ax, legend=ax is axes.flat[0])
        ax.set(xscale="log", title=name, xlabel="passes per image", ylabel="robust accuracy")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    for ax in list(axes.flat)[len(models) :]:
        ax.axis("off")
    if axes.flat[0].get_legend():
        sns.move_legend(axes.flat[0], "upper left", bbox_to_anchor=(0, -0.25), ncol=3, fontsize=7, title=None)
    fig.tight_layout()
    return fig


def iterate_trace(df: pd.DataFrame):
    """PGD followed without stopping: mean loss (left) and fraction misclassified (right) per iterate, per model."""
    from matplotlib.ticker import PercentFormatter

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2), sharex=True)
    sns.lineplot(df, x="step", y="mean loss", hue="model", ax=a, legend=False)
    sns.lineplot(df, x="step", y="misclassified", hue="model", ax=b)
    for ax in (a, b):
        ax.axvline(7, color="0.6", lw=0.8, ls="--")
    b.yaxis.set_major_formatter(PercentFormatter(1.0))
    a.set(xlabel="PGD iterate (0: random start)", ylabel="mean cross-entropy")
    b.set(xlabel="PGD iterate (0: random start)", ylabel="misclassified")
    sns.move_legend(b, "upper left", bbox_to_anchor=(1.01, 1), fontsize=7, title=None)
    fig.tight_layout()
    return fig


def loss_landscape(land: dict, title: str = ""):
    """The loss on a plane through each image (gradient-sign and random-sign directions, -eps..eps)."""
    steps = np.asarray(land["steps"]) * 255
    n = len(land["loss"])
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.0), squeeze=False)
    for ax, loss in zip(axes[0], land["loss"]):
        im = ax.imshow(
            np.asarray(loss).T,
            origin="lower",
            extent=[steps[0], steps[-1], steps[0], steps[-1]],
            cmap="viridis",
            aspect="auto",
        )
        ax.set(xlabel="along sign(gradient) (×1/255)", ylabel="along a random sign (×1/255)")
        fig.colorbar(im, ax=ax, label="loss")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def weight_sparsity(df: pd.DataFrame):
    """Per convolution: zero fraction of the weight gradient, of input x input-gradient, and of the input gradient."""
    long = df.melt(
        id_vars=["order", "module", "model"],
        value_vars=["weight_grad_zero", "grad_x_input_zero", "input_grad_zero"],
        var_name="quantity",
        value_name="zero fraction",
    )
    long["quantity"] = long.quantity.map(
        {
            "weight_grad_zero": "weight gradient",
            "grad_x_input_zero": "input ⊙ gradient",
            "input_grad_zero": "input gradient",
        }
    )
    fig, ax = plt.subplots(figsize=(10, 3))
    sns.lineplot(long, x="order", y="zero fraction", hue="quantity", style="model", marker="o", ax=ax)
    ax.set(xlabel="convolution (input → output)", ylabel="fraction of exact zeros")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    return fig


def training_run(history: pd.DataFrame, title: str = ""):
    """Clean and robust validation accuracy per epoch of an adversarial training run (``history``: epoch,
    val_acc, robust_val_acc), with the kept epoch marked (early stopping on robust accuracy, Rice et al. 2020)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(history.epoch, 100 * history.val_acc, marker="o", label="clean (validation)")
    ax.plot(history.epoch, 100 * history.robust_val_acc, marker="s", label="PGD-10 (validation subset)")
    best = history.loc[history.robust_val_acc.idxmax()]
    ax.axvline(best.epoch, color="0.5", ls="--", lw=1, label=f"kept: epoch {int(best.epoch)}")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=title)
    ax.legend(fontsize=8)
    return fig
