"""The numbers the paper reports (Luu et al., Tables 1-3 and Section 4.3.1), as data.

They are cited, never computed: the book prints them next to ours, labelled
"paper". Accuracies are in percent, as printed in the paper. Baseline rows
(input discretization, Hire-SNN, SNN-RAT, vanilla VGG-11) are the paper's own
citations of those works.
"""

from __future__ import annotations

import pandas as pd

_COLS = ["dataset", "model", "kind", "fgsm", "pgd", "clean"]

#: Table 1 (CIFAR-100) and Table 2 (CIFAR-10, CIFAR-100, CIFAR10-DVS), stem MaxPool.
_TABLE12 = [
    ("cifar100", "Input discretization (Sharmin et al., 2020)", "defended baseline", 15.50, 6.30, 64.40),
    ("cifar100", "Hire-SNN (Kundu et al., 2021)", "defended baseline", 22.00, 7.50, 65.10),
    ("cifar100", "Vanilla VGG-11 (Ding et al., 2022)", "undefended baseline", 5.30, 0.02, 73.33),
    ("cifar100", "SNN-RAT VGG-11 (Ding et al., 2022)", "defended baseline", 25.86, 10.38, 70.89),
    ("cifar100", "SNN-RAT WRN-16 (Ding et al., 2022)", "defended baseline", 28.08, 11.31, 69.32),
    ("cifar100", "SEW-ResNet18", "paper", 20.81, 13.47, 42.19),
    ("cifar100", "SEW-ResNet34", "paper", 19.91, 13.25, 41.81),
    ("cifar100", "SEW-ResNet50", "paper", 21.27, 16.03, 38.91),
    ("cifar100", "Spiking-ResNet18", "paper", 13.36, 11.15, 23.23),
    ("cifar100", "Spiking-ResNet34", "paper", 2.43, 1.64, 21.20),
    ("cifar100", "Spiking-ResNet50", "paper", 3.32, 2.44, 20.56),
    ("cifar10", "SNN-RAT VGG-11 (Ding et al., 2022)", "defended baseline", 45.23, 21.16, 90.74),
    ("cifar10", "SNN-RAT WRN-16 (Ding et al., 2022)", "defended baseline", 50.78, 22.71, 92.69),
    ("cifar10", "SEW-ResNet18", "paper", 46.99, 34.33, 73.78),
    ("cifar10", "SEW-ResNet34", "paper", 49.20, 36.98, 74.16),
    ("cifar10", "SEW-ResNet50", "paper", 51.09, 40.55, 73.34),
    ("cifar10-dvs", "SNN-RAT VGG-11 (Ding et al., 2022)", "defended baseline", 36.22, 19.02, 71.77),
    ("cifar10-dvs", "SNN-RAT WRN-16 (Ding et al., 2022)", "defended baseline", 40.16, 17.11, 76.12),
    ("cifar10-dvs", "SEW-ResNet18", "paper", 47.19, 21.47, 75.18),
    ("cifar10-dvs", "SEW-ResNet34", "paper", 49.03, 18.65, 75.29),
    ("cifar10-dvs", "SEW-ResNet50", "paper", 48.52, 22.34, 76.53),
]

#: Table 3: SEW-ResNets with AvgPool in the stem.
_TABLE3 = [
    ("cifar10", "SEW-ResNet18", "paper", 45.71, 25.72, 75.76),
    ("cifar10", "SEW-ResNet34", "paper", 48.72, 29.82, 76.17),
    ("cifar10", "SEW-ResNet50", "paper", 49.88, 33.29, 75.28),
    ("cifar100", "SEW-ResNet18", "paper", 17.93, 8.65, 43.32),
    ("cifar100", "SEW-ResNet34", "paper", 20.07, 10.37, 44.58),
    ("cifar100", "SEW-ResNet50", "paper", 22.02, 13.37, 43.40),
    ("cifar10-dvs", "SEW-ResNet18", "paper", 46.27, 13.94, 77.77),
    ("cifar10-dvs", "SEW-ResNet34", "paper", 47.66, 12.54, 76.43),
    ("cifar10-dvs", "SEW-ResNet50", "paper", 47.01, 14.30, 78.35),
]

#: The deltas Table 3 prints in brackets (AvgPool minus MaxPool, with the paper's arrows as signs).
TABLE3_PRINTED_DELTAS = [
    ("cifar10", "SEW-ResNet18", -1.28, -8.61, +1.98),
    ("cifar10", "SEW-ResNet34", -0.48, -7.16, +2.01),
    ("cifar10", "SEW-ResNet50", -1.21, -7.26, +1.94),
    ("cifar100", "SEW-ResNet18", -2.88, -4.82, +1.13),
    ("cifar100", "SEW-ResNet34", -0.16, -2.88, +2.77),
    ("cifar100", "SEW-ResNet50", -0.74, -2.66, +4.49),
    ("cifar10-dvs", "SEW-ResNet18", -0.92, -7.53, +2.59),
    ("cifar10-dvs", "SEW-ResNet34", -1.37, -6.11, +1.14),
    ("cifar10-dvs", "SEW-ResNet50", -1.51, -8.04, +1.82),
]


def printed_vs_computed_deltas() -> pd.DataFrame:
    """Table 3's printed deltas against the deltas computed from the paper's own Tables 2 and 3."""
    t2, t3 = table("2").set_index(["dataset", "model"]), table("3").set_index(["dataset", "model"])
    rows = []
    for ds, model, *printed in TABLE3_PRINTED_DELTAS:
        for k, p in zip(("fgsm", "pgd", "clean"), printed):
            c = t3.loc[(ds, model), k] - t2.loc[(ds, model), k]
            rows.append(
                {
                    "dataset": ds,
                    "model": model,
                    "metric": k,
                    "printed": p,
                    "computed": round(c, 2),
                    "consistent": abs(p - c) < 0.015,
                }
            )
    return pd.DataFrame(rows)


#: Section 4.3.1: zero fraction of the input gradient (percent) quoted in the text.
SPARSITY_QUOTED = {
    "max": {"IF neuron (lowest in residual blocks)": 29.01, "max pooling": 37.88},
    "avg": {"IF neuron (lowest)": 16.52, "pooling": 0.0},
}

#: Section 4.2, Fig. 2: approximate accuracy drops quoted in the text (percent) over eps 2/255 -> 8/255.
FIG2_QUOTED = {"WRN-16 (SNN-RAT)": {"fgsm": 35, "pgd": 70}, "SEW-ResNet18": {"fgsm": 25, "pgd": 35}}


def table(which: str) -> pd.DataFrame:
    """The paper's ``"1"``, ``"2"`` or ``"3"`` as a DataFrame (accuracies in percent)."""
    if which == "1":
        rows = [r for r in _TABLE12 if r[0] == "cifar100"]
    elif which == "2":
        rows = [
            r
            for r in _TABLE12
            if not (
                r[0] == "cifar100"
                and ("Spiking" in r[1] or "Hire" in r[1] or "discretization" in r[1] or "Vanilla" in r[1])
            )
        ]
    elif which == "3":
        rows = _TABLE3
    else:
        raise ValueError(f"the paper has Tables 1, 2 and 3, not {which!r}")
    df = pd.DataFrame(rows, columns=_COLS)
    df["pool"] = "avg" if which == "3" else "max"
    return df


#: where the paper's text and the authors' code differ: (what, text, code, snnlib switch, what the book uses); the
#: fields in braces are filled from snnlib's defaults by :func:`text_vs_code`
TEXT_VS_CODE = [
    (
        "spike weights ω(t)",
        "applied",
        "not applied",
        "PhaseEncoder(weighted=...)",
        "code (weighted={weighted})",
    ),
    ("attacked tensor", "image (Fig. 1)", "encoded spikes", "ThreatModel(space=...)", "both; 'standard' = pixel"),
    (
        "BN while crafting",
        "not stated",
        "train mode (model.train())",
        "ThreatModel(bn=...)",
        "both; 'standard' = eval",
    ),
    (
        "test batches under BN train mode",
        "not stated",
        "test loader shuffled, batch 16",
        "attack.batch_order, attack.batch_size (threat registry)",
        "code: a seeded shuffle of 16 for the authors' threat",
    ),
    (
        "BN statistics after crafting",
        "-",
        "updated on test images",
        "ThreatModel(restore_bn=...)",
        "restored (the audit measures the leak)",
    ),
    (
        "attack ε",
        "{paper_eps}/255",
        "{authors_eps}/255 (default; adv_test_step passes none)",
        "attack.eps",
        "text; the authors' threat model at both",
    ),
    ("weight decay", "not stated", "1e-3", "train.weight_decay", "code ({weight_decay})"),
    (
        "checkpoint selection",
        "not stated",
        "lowest test loss",
        "train.select on a validation split",
        "validation split",
    ),
    (
        "robust accuracy measured on",
        "not stated",
        "the current epoch's model, every epoch",
        "-",
        "the selected checkpoint",
    ),
    (
        "dataset loaded",
        "CIFAR-10/100, CIFAR10-DVS",
        "CIFAR-100 whatever the config says; no DVS loader",
        "data.dataset",
        "the config's dataset",
    ),
    (
        "pixel scaling",
        "[0, 1]",
        "p/256 inside the encoder",
        "PhaseEncoder quantises round(255x)",
        "identical spikes",
    ),
    ("PGD on a vanishing gradient", "-", "the run stops (gradient norm < 1e-6 raises)", "-", "never stops"),
    ("Spiking-ResNet stem pool", "-", "always max", "model.pool", "max (as the code)"),
]


def text_vs_code() -> pd.DataFrame:
    """Where the paper's text and the authors' code (github.com/luutn2002/grad-obf-snn) differ, the snnlib switch
    for each, and which side this book uses (:data:`TEXT_VS_CODE`)."""
    from .attacks import AUTHORS_EPS, PAPER_EPS
    from .config import Config

    c = Config()
    fill = {
        "weighted": c.model.weighted,
        "paper_eps": f"{PAPER_EPS * 255:.0f}",
        "authors_eps": f"{AUTHORS_EPS * 255:.0f}",
        "weight_decay": f"{c.train.weight_decay:g}",
    }
    rows = [tuple(cell.format(**fill) for cell in row) for row in TEXT_VS_CODE]
    return pd.DataFrame(rows, columns=["what", "paper's text", "authors' code", "snnlib switch", "this book uses"])
