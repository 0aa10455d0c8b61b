"""End to end on a tiny project: train, evaluate, probe and export every table and figure of the book."""

import pytest

from snnlib import config, paper, plots, report, stats

TINY = """name: {name}
profile: quick
data: {{dataset: "imagefolder:{data}", n_per_class: 4, val_fraction: 0.25, test_per_class: 2, eval_per_class: 2}}
model: {{arch: {arch}, pool: {pool}, width: 2}}
train: {{epochs: 1, batch_size: 8}}
attack: {{eps_sweep: ["4/255"], batch_size: 10}}
"""


@pytest.fixture
def tiny_project(tmp_path, monkeypatch, cifar_dir):
    d = tmp_path / "proj" / "configs" / "quick"
    d.mkdir(parents=True)
    (tmp_path / "proj" / "snnlib").mkdir()
    for name, arch, pool in (("sew18_max", "sew_resnet18", "max"), ("sew18_avg", "sew_resnet18", "avg"),
                             ("spiking18_max", "spiking_resnet18", "max")):
        (d / f"{name}.yaml").write_text(TINY.format(name=name, data=cifar_dir, arch=arch, pool=pool))
    monkeypatch.setenv("SNNLIB_HOME", str(tmp_path / "proj"))
    monkeypatch.setenv("SNNLIB_PROFILE", "quick")
    return tmp_path / "proj"


def test_book_pipeline(tiny_project, tmp_path):
    ev = report.evaluations()
    assert len(ev) == 6 and set(ev.threat) == {"standard", "authors"}
    assert ev[["clean", "fgsm", "pgd"]].apply(lambda c: c.between(0, 100)).all().all()
    t2 = report.paper_vs_ours("2")
    assert (t2.kind == "paper").sum() == (paper.table("2").kind == "paper").sum()
    assert t2.kind.str.startswith("ours").sum() == 2  # SEW-ResNet18 (max) under both threat models
    d = report.pooling_deltas()
    assert {"paper", "ours: pixel + BN eval (standard)"} <= set(d.source)
    assert set(report.sweep().eps.round(4)) == {round(4 / 255, 4), round(8 / 255, 4)}
    sp = report.sparsity(n=3, swap=True)
    assert set(sp.weights) == {"own", "swapped"} and (sp[sp.module == "maxpool"].n == 3).all()
    cl = report.claims(audit=False)
    assert cl.verdict.str.match("reproduced|not reproduced|cannot tell").all()
    out = report.export_all(out=tmp_path / "figs")
    names = {p.split("/")[-1] for p in out["files"]}
    assert {"fig1_attacks.pdf", "fig2_eps_sweep.png", "table3_deltas.csv", "table1.tex"} <= names


def test_direction_and_bootstrap():
    assert stats.direction(3.0, 1.0, +1) == "agrees (beyond 2 SE)"
    assert stats.direction(-0.5, 1.0, +1) == "opposite sign, within noise"
    assert stats.direction(-3.0, 1.0, +1) == "contradicts (beyond 2 SE)"
    k, lo, hi = stats.bootstrap_keep([1, 1, 1, 1, 0, 1, 1, 1], [1, 0, 1, 0, 0, 1, 0, 1])
    assert lo <= k <= hi and k == pytest.approx(4 / 7)
    assert stats.paired_delta([1, 1, 0, 0], [0, 1, 0, 1])[0] == 0.0


def test_md_table_is_a_numbered_myst_table():
    import pandas as pd

    md = plots.md_table(pd.DataFrame({"a": [1.234]}), "Cap.", "tbl-x").data
    assert md.startswith(":::{table} Cap.\n:name: tbl-x") and "1.23" in md


def test_paper_tables_and_their_printed_deltas():
    from snnlib import paper

    assert len(paper.table("1")) == 11 and len(paper.table("3")) == 9
    check = paper.printed_vs_computed_deltas()
    bad = check[~check.consistent]
    # two FGSM arrows in Table 3 point the wrong way (CIFAR-100, SEW-ResNet34/50)
    assert set(zip(bad.dataset, bad.model, bad.metric)) == {("cifar100", "SEW-ResNet34", "fgsm"),
                                                             ("cifar100", "SEW-ResNet50", "fgsm")}
