"""End to end on a tiny project: train, evaluate, probe and export every table and figure of the book."""

import pandas as pd
import pytest

from snnlib.errors import SnnlibError

from snnlib import paper, plots, report, stats

TINY = """name: {name}
profile: quick
data: {{dataset: "npz:{data}", n_per_class: 4, val_fraction: 0.25, test_per_class: 2, eval_per_class: 2}}
model: {{arch: {arch}, pool: {pool}, width: 2}}
train: {{epochs: 1, batch_size: 8}}
attack: {{eps_sweep: ["4/255"], batch_size: 10}}
"""


@pytest.fixture
def tiny_project(tmp_path, monkeypatch, cifar_dir):
    d = tmp_path / "proj" / "configs" / "quick"
    d.mkdir(parents=True)
    (tmp_path / "proj" / "snnlib").mkdir()
    for name, arch, pool in (
        ("sew18_max", "sew_resnet18", "max"),
        ("sew18_avg", "sew_resnet18", "avg"),
        ("spiking18_max", "spiking_resnet18", "max"),
    ):
        (d / f"{name}.yaml").write_text(TINY.format(name=name, data=cifar_dir, arch=arch, pool=pool))
    monkeypatch.setenv("SNNLIB_HOME", str(tmp_path / "proj"))
    monkeypatch.setenv("SNNLIB_PROFILE", "quick")
    return tmp_path / "proj"


@pytest.mark.slow
def test_book_pipeline(tiny_project, tmp_path):
    ev = report.evaluations()
    assert len(ev) == 9 and set(ev.threat) == {"standard", "authors", "authors-6"}
    assert (ev.pgd_lo <= ev.pgd).all() and (ev.pgd <= ev.pgd_hi).all()  # exact intervals around every accuracy
    assert ev[["clean", "fgsm", "pgd"]].apply(lambda c: c.between(0, 100)).all().all()
    t2 = report.paper_vs_ours("2")
    assert (t2.kind == "paper").sum() == (paper.table("2").kind == "paper").sum()
    assert t2.kind.str.startswith("ours").sum() == 3  # SEW-ResNet18 (max) under the three threat models
    d = report.pooling_deltas()
    assert {"paper", "ours: pixel + BN eval (standard), 8/255"} <= set(d.source)
    assert {"Δpgd lo", "Δpgd hi", "Δpgd verdict", "Δpgd mde"} <= set(d.columns)
    da = report.pooling_deltas(threat="authors")  # one seed each: the main seeds' authors'-threat evaluations
    assert "ours: spike + BN train (authors' code), 8/255" in set(da.source)
    assert set(report.sweep().eps.round(4)) == {round(4 / 255, 4), round(8 / 255, 4)}
    sp = report.sparsity(n=3, swap=True)
    assert set(sp.weights) == {"own", "swapped"} and (sp[sp.module == "maxpool"].n == 3).all()
    cl = report.claims(audit=False)
    assert cl.verdict.str.match("reproduced|not reproduced|cannot tell|untestable|holds by construction").all()
    assert (cl[cl.claim.str.startswith("Spiking")].verdict == "untestable here").all()  # depth 18 only
    assert len(report.probe_candidates()) > 5 and len(report.weight_sparsity(n=4)) > 5
    out = report.export_all(out=tmp_path / "figs")
    names = {p.split("/")[-1] for p in out["files"]}
    assert {"fig1_attacks.pdf", "fig2_eps_sweep.png", "table3_deltas.csv", "table1.tex"} <= names


def test_md_table_is_a_numbered_myst_table():
    import pandas as pd

    md = plots.md_table(pd.DataFrame({"a": [1.234]}), "Cap.", "tbl-x").data
    assert md.startswith(":::{table} Cap.\n:name: tbl-x") and "1.23" in md
    gaps = plots.md_table(pd.DataFrame({"a": [1.234, float("nan")], "b": ["x", None], "n": [3, 4]}), "c", "t").data
    assert "nan" not in gaps and "None" not in gaps and gaps.count("–") == 2 and "1.23" in gaps and "   4 |" in gaps
    counts = plots.md_table(pd.DataFrame({"n_eval": pd.Series([None, 1000], dtype=object)}), "c", "t").data
    assert "1000" in counts and "1000.0" not in counts and "–" in counts  # a count beside a blank stays an integer


def test_paper_tables_and_their_printed_deltas():
    from snnlib import paper

    assert len(paper.table("1")) == 11 and len(paper.table("3")) == 9
    check = paper.printed_vs_computed_deltas()
    bad = check[~check.consistent]
    # two FGSM arrows in Table 3 point the wrong way (CIFAR-100, SEW-ResNet34/50)
    assert set(zip(bad.dataset, bad.model, bad.metric)) == {
        ("cifar100", "SEW-ResNet34", "fgsm"),
        ("cifar100", "SEW-ResNet50", "fgsm"),
    }


def test_every_branch_of_the_claims_rules():
    import importlib

    c = importlib.import_module("snnlib.report.verdicts")

    assert [c.rule_comparison(v) for v in ("agrees", "contradicts", "cannot tell")] == [c.REPRO, c.NOT, c.CANNOT]
    assert [c.rule_interval(*iv) for iv in ((0.1, 0.3), (-0.3, -0.1), (-0.1, 0.2))] == [c.REPRO, c.NOT, c.CANNOT]
    assert c.rule_all(["agrees"] * 3) == c.REPRO
    assert c.rule_all(["agrees", "contradicts", "agrees"]) == c.NOT
    assert c.rule_all(["agrees", "cannot tell", "agrees"]) == c.CANNOT
    assert c.rule_blocks(0.2) == c.REPRO and c.rule_blocks(0.01) == c.NOT
    assert c.rule_blocks(0.9, live_zero=0.2) == c.REPRO  # sparse beyond its dead channels
    assert c.rule_blocks(0.9, live_zero=0.01) == f"{c.NOT} (dead BN channels)"  # sparse only through them
    from snnlib.report import rules

    pool = {"max": 0.8, "avg": 0.0, "bound": 0.75, "paper": 0.3788}
    assert rules.rule("pool", 1).decide(pool) == c.REPRO  # the old version could not fail...
    assert rules.rule("pool", 2).decide(pool) == rules.BY_CONSTRUCTION  # ...so it is now called a description
    assert rules.rule("pool", 2).decide({**pool, "avg": 0.01}) == c.NOT
    assert rules.rule("pool_value", 1).decide(pool) == c.NOT
    assert rules.rule("pool_value", 1).decide({**pool, "max": 0.40}) == c.REPRO
    audit = {"p": 0.2, "cause": "none", "extra": 0}
    assert rules.rule("audit", 1).decide(audit) == c.REPRO and rules.rule("audit", 2).decide(audit) == c.REPRO
    # nested: one image the suite breaks beyond PGD-7 is proof in a deterministic model, whatever McNemar says
    one = {"p": 0.5, "cause": "weak attack", "extra": 1}
    assert (
        rules.rule("audit", 1).decide(one) == c.REPRO and rules.rule("audit", 2).decide(one) == f"{c.NOT} (weak attack)"
    )

    def w(lo, hi):
        return {"lo": lo, "hi": hi}

    nat = {"pgd": {"verdict": "agrees"}, "worst_sew": w(0.0, 0.007), "worst_def": w(0.018, 0.051)}
    j = rules.judge("natural", nat)
    assert j["verdict"] == c.NOT and j["by version"] == f"v1: {c.REPRO}; v2: {c.NOT}"
    assert rules.judge("natural", {**nat, "worst_sew": None})["verdict"] == c.CANNOT
    trade = {"v1": c.REPRO, "clean": c.REPRO, "worst": {"max": w(0, 0.007), "avg": w(0, 0.007)}}
    assert rules.judge("tradeoff", trade)["verdict"] == f"{c.NOT} (no robustness left under the audit)"
    assert rules.judge("tradeoff", {**trade, "clean": c.CANNOT})["verdict"] == c.CANNOT
    broken = {"lo": 0.1, "hi": 0.3, "defended_audit": {"worst": w(0.018, 0.051), "pgd7": w(0.24, 0.32)}}
    assert (
        rules.judge("shape", broken)["by version"]
        == f"v1: {c.REPRO}; v2: {c.CANNOT} (the defended reference falls to the audit)"
    )
    assert rules.judge("blocks_if", {"if_zero": 0.001})["verdict"] == c.NOT
    # the spike-space worst case: its share reaching the paper's PGD/clean holds, entirely below fails
    assert rules.judge("spike_case", {"worst": {"ratio": 0.4, **w(0.35, 0.5)}, "paper": 0.47})["verdict"] == c.REPRO
    assert rules.judge("spike_case", {"worst": {"ratio": 0.03, **w(0.01, 0.1)}, "paper": 0.47})["verdict"] == c.NOT
    assert rules.judge("spike_case", {"worst": None, "paper": 0.47})["verdict"] == c.CANNOT
    with pytest.raises(SnnlibError, match=r"claim 'blocks' has no rule version 7; versions: 1, 2"):
        rules.rule("blocks", 7)
    h = rules.history()
    assert {"claim", "version", "rule", "since", "why"} <= set(h.columns) and (h.why != "").sum() >= 5
    # the sparsity chapter's paragraph follows the same rule, and names dead BN channels when they carry the zeros
    assert "does **not** reproduce" in c.block_finding({"zero": 0.01, "module": "layer1.0.bn1", "op": "BN"})
    dead = c.block_finding(
        {
            "zero": 0.9077,
            "module": "layer3.1.bn1",
            "op": "BN",
            "collapsed": 58,
            "channels": 64,
            "live": 0.0015,
            "live_module": "layer3.1.bn1",
        }
    )
    assert "58 of its 64 channels" in dead and "dead BatchNorm channels" in dead and "does **not**" in dead
    assert "0.15 %" in dead
    live = c.block_finding(
        {"zero": 0.3, "module": "layer1.0.conv1", "op": "conv", "live": 0.3, "live_module": "layer1.0.conv1"}
    )
    assert "not at a spiking neuron" in live and "not**" not in live


def test_exact_statistics():
    a = stats.accuracy([1] * 3 + [0] * 7)
    assert a["k"] == 3 and a["n"] == 10 and a["lo"] < 0.3 < a["hi"]
    assert stats.clopper_pearson(0, 10)[0] == 0.0 and stats.clopper_pearson(10, 10)[1] == 1.0
    t = stats.mcnemar([1] * 10, [0] * 5 + [1] * 5)
    assert t["a_only"] == 5 and t["b_only"] == 0 and t["p"] == pytest.approx(0.5**5)
    assert stats.mcnemar([1] * 10, [1] * 10)["p"] == 1.0 and stats.min_discordant() == 5
    h = stats.holm({"x": 0.01, "y": 0.04, "z": 0.5})
    assert h["x"] == pytest.approx(0.03) and h["y"] == pytest.approx(0.08) and h["z"] == pytest.approx(0.5)
    far = stats.model_comparison(
        [[1] * 90 + [0] * 10] * 3, [[1] * 40 + [0] * 60, [1] * 45 + [0] * 55, [1] * 50 + [0] * 50], +1
    )
    assert far["verdict"] == "agrees" and far["lo"] > 0 and "p_permutation" in far
    one = stats.model_comparison([[1] * 50 + [0] * 50], [[1] * 49 + [0] * 51], +1)
    assert one["verdict"] == "cannot tell" and one["notes"]  # one seed each, no seed variance known


def test_few_seeds_widen_the_interval_by_student_t():
    """Two seeds a side estimate the seed variance with 2 degrees of freedom: the interval uses t, not the normal,
    and a pooled variance with few degrees of freedom gives a wider interval than the same variance known exactly."""
    a = [[1] * 62 + [0] * 38, [1] * 58 + [0] * 42]
    b = [[1] * 52 + [0] * 48, [1] * 50 + [0] * 50]
    own = stats.model_comparison(a, b, +1)
    assert 1 <= own["df"] < 10 and own["hi"] - own["lo"] > 2 * 1.96 * own["se"]
    few = stats.model_comparison(a, b, +1, pooled_var=0.02**2, pooled_df=2)
    exact = stats.model_comparison(a, b, +1, pooled_var=0.02**2)
    assert few["se"] == pytest.approx(exact["se"]) and few["hi"] - few["lo"] > exact["hi"] - exact["lo"]
    assert few["mde"] > exact["mde"] and few["p"] > exact["p"]


def test_one_seed_models_take_a_stated_seed_variance():
    a, b = [[1] * 60 + [0] * 40], [[1] * 52 + [0] * 48]
    bare = stats.model_comparison(a, b, +1)
    lent = stats.model_comparison(a, b, +1, pooled_var=0.03**2, pooled_source="seed variance borrowed from quick")
    assert lent["hi"] - lent["lo"] > bare["hi"] - bare["lo"]
    assert all("borrowed from quick" in n for n in lent["notes"]) and len(lent["notes"]) == 2

    def shape(d):
        return float(sum(d["x"]) / len(d["x"]))

    x = [{"x": [1] * 30 + [0] * 20}], [{"x": [1] * 25 + [0] * 25}]
    b0 = stats.bootstrap_comparison(*x, shape, n_boot=200)
    b1 = stats.bootstrap_comparison(*x, shape, n_boot=200, seed_var=0.05**2, seed_var_source="borrowed")
    assert b1["diff"] == b0["diff"] and b1["hi"] - b1["lo"] > b0["hi"] - b0["lo"]
    assert "not counted" in b0["notes"][0] and "borrowed" in b1["notes"][0]
    b2 = stats.bootstrap_comparison(*x, shape, n_boot=200, seed_var=0.05**2, seed_var_df=4)
    assert b2["hi"] - b2["lo"] > b1["hi"] - b1["lo"] and b2["df"] < b1["df"]  # a variance known from 4 df: t


def test_borrowed_seed_variance_file(tiny_project):
    from snnlib import places, results
    from snnlib.errors import SnnlibError
    from snnlib.report import seeds

    with pytest.raises(SnnlibError, match="another profile"):
        seeds.write_borrowed("quick", "quick")
    with pytest.raises(SnnlibError, match="no config with seed replicates"):
        seeds.write_borrowed("quick", "medium")  # the tiny project's quick configs have one seed each
    assert seeds.borrowed("medium") is None and seeds.borrowed_var("medium", "pgd") is None
    with pytest.raises(SnnlibError, match="no seed-variance.json"):
        seeds.pooling_deltas("medium", borrowed_variance=True)
    results.write_json(
        places.results_dir("medium") / seeds.FILE,
        {
            "source_profile": "quick",
            "threat": "standard",
            "models": ["sew18_max"],
            "n_seeds": [3],
            "variance": {"clean": 4e-4, "fgsm": None, "pgd": 1e-4, "shape": 0.01},
        },
    )
    assert seeds.borrowed("medium")["variance"]["pgd"] == 1e-4
    var, source, df = seeds.borrowed_var("medium", "pgd")
    assert var == 1e-4 and "quick" in source and df == 2 and seeds.borrowed_var("medium", "fgsm") is None
    assert not seeds.own_and_borrowed("medium")  # a borrowed file, but no seed replicates of its own
    assert seeds.shape({"clean": [1, 1, 1, 1], "pgd2": [1, 1, 0, 0], "pgd8": [0, 0, 0, 0]}) == 0.5


def test_md_table_keeps_pipes_inside_cells():
    import pandas as pd

    md = plots.md_table(pd.DataFrame({"claim": ["|gamma| < 1e-20"], "verdict": ["reproduced"]}), "c", "n").data
    row = next(line for line in md.splitlines() if "gamma" in line)
    assert row.count(" | ") == 1 and "\\|gamma\\|" in row and row.rstrip().endswith("reproduced |")


def test_sensitivity_names_the_dataset_order_by_its_source():
    from snnlib.report.sensitivity import _batches

    assert "class-sorted" in _batches({"batching": "dataset 64", "source": "imagefolder:$SNNLIB_DATA"})
    assert "classes mixed" in _batches({"batching": "dataset 64", "source": "npz:$SNNLIB_DATA"})
    assert _batches({"batching": "shuffled 16", "source": "npz:$SNNLIB_DATA"}) == "shuffled, 16 (authors' loader)"


def test_draws_table_counts_images_whose_outcome_depends_on_the_draw(monkeypatch):
    from snnlib import config, experiments
    from snnlib.report import sensitivity

    cfg = config.Config(name="m", profile="medium")
    draws = [[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]]  # image 0 always survives, 3 never; 1 and 2 depend on it
    starts = [[1, 1, 1, 0]]  # the run's own batches, another start: image 2 depends on the start
    found = [
        {"eps": 8 / 255, "varied": "own" if i == 0 else "batches", "own": i == 0, "clean": [1] * 4, "pgd": p}
        for i, p in enumerate(draws)
    ] + [{"eps": 8 / 255, "varied": "starts", "own": False, "clean": [1] * 4, "pgd": p} for p in starts]
    monkeypatch.setattr(sensitivity, "configs", lambda profile: {"m": cfg})
    monkeypatch.setattr(experiments, "draw_configs", lambda c: [c])
    monkeypatch.setattr(experiments, "authors_draws", lambda c: found)
    t, missing = sensitivity.draws_table("medium")
    assert not missing and len(t) == 1
    row = t.iloc[0]
    assert row["outcome depends on the draw"] == "2 of 4" and row["outcome depends on the start"] == "1 of 4"
    assert row["median [min–max], draws"] == "50.0 [25.0–75.0]" and row["PGD-7, the run's draw"].startswith("50.0%")
    assert row["PGD-7 % per start"] == "50.0, 75.0"


def test_sensitivity_rows_not_computed_are_listed_not_fatal(monkeypatch):
    from snnlib import config, experiments, results

    def evaluate(cfg):
        if cfg.attack.batch_order == "dataset":
            raise results.ResultMissing("not computed")
        e = cfg.attack.eps
        return {
            "final": {"eps": e},
            "per_sample": {"clean": [1], f"fgsm@{e}": [0], f"pgd@{e}": [0]},
            "data": {"source": "npz"},
        }

    monkeypatch.setattr(experiments, "evaluate_config", evaluate)
    monkeypatch.setattr(experiments, "authors_loop_result", lambda c, e: (_ for _ in ()).throw(results.ResultMissing()))
    todo = []
    rows = experiments.authors_sensitivity(config.Config(name="m"), todo)
    assert [r["batching"] for r in rows] == ["shuffled 64", "shuffled 16"] * 2
    assert todo == ["m 8/255 dataset 64", "m 8/255 with the BN leak", "m 6/255 dataset 64", "m 6/255 with the BN leak"]
    with pytest.raises(results.ResultMissing):  # without the list, a missing row raises as before
        experiments.authors_sensitivity(config.Config(name="m"))


def test_a_verdict_on_models_from_both_copies_says_so(tiny_project):
    """Lossless-data issue, item 6: each claim row names the copy of CIFAR-10 its models used; mixed ones are flagged.
    The training result's record wins over the config (results computed before the config changed)."""
    from snnlib import config, results
    from snnlib.report import provenance

    cfgs = config.load_profile("quick")
    mx, avg = cfgs["sew18_max"], cfgs["sew18_avg"]
    assert provenance.data_note([mx, avg]) == "lossless"
    jp = config.replace(avg, data={"pixels": "jpeg"})
    note = provenance.data_note([mx, jp])
    assert note == "mixed: sew18_max lossless, sew18_avg JPEG"
    assert provenance.mark_mixed("reproduced", note) == "reproduced (mixed data)"
    assert provenance.mark_mixed("reproduced", "JPEG") == "reproduced"
    results.write_json(results.run_dir(mx) / "train.json", {"data": {"pixels": "jpeg"}})
    assert provenance.pixels_of(mx) == "jpeg"
    allc = pd.DataFrame(
        {"claim": ["a", "b"], "verdict": ["reproduced"] * 2, "data": ["JPEG", note], "profile": "quick"}
    )
    assert list(report.verdict_overview(allc).quick) == ["reproduced", "reproduced (mixed data)"]


def test_a_changed_verdict_or_data_is_listed_against_the_snapshot(tmp_path, monkeypatch):
    import pandas as pd

    from snnlib.errors import SnnlibError
    from snnlib.report import changes

    monkeypatch.setattr(changes, "snapshot_path", lambda profile, tag: tmp_path / f"claims-{tag}.csv")
    with pytest.raises(SnnlibError, match="no snapshot claims-old.csv"):
        changes.changed("medium", "old", pd.DataFrame())
    before = pd.DataFrame(
        {
            "claim": ["a", "b", "c"],
            "verdict": ["reproduced", "not reproduced", "untestable here"],
            "by version": ["v1: reproduced", "v1: not reproduced", None],
            "ours": ["1%", "2%", "-"],
            "data": ["JPEG"] * 3,
            "paper": ["x"] * 3,  # not kept
        }
    )
    changes.snapshot("medium", "old", before)
    now = before.assign(data=["lossless", "JPEG", "JPEG"], ours=["1.5%", "3%", "-"])
    now.loc[1, ["verdict", "by version"]] = ["reproduced", "v1: reproduced"]
    assert changes.changed("medium", "old", before).empty
    moved = changes.changed("medium", "old", now)
    assert list(moved.claim) == ["a", "b"] and list(moved["verdict now"]) == ["v1: reproduced", "v1: reproduced"]
    assert moved["verdict (old)"].iloc[1] == "v1: not reproduced" and moved["data now"].iloc[0] == "lossless"


def test_the_defended_reference_is_the_pgd_model_once_trained(tiny_project):
    """PGD-AT issue, item 4: the claims compare against the PGD-trained model when its training result exists
    (else the FGSM-RS one), and its run is drawn with the kept epoch marked (the argmax of robust accuracy)."""
    from snnlib import config, results

    d = tiny_project / "configs" / "quick"
    for name, adv in (("sew18_max_at", "{method: fgsm-rs}"), ("sew18_max_pgdat", "{method: pgd, steps: 3}")):
        text = TINY.format(name=name, data="x", arch="sew_resnet18", pool="max") + "role: defended\n"
        robust = ", select: robust_val_acc, robust_val: 4" if name.endswith("pgdat") else ""
        text = text.replace("batch_size: 8}", f"batch_size: 8, adversarial: {adv}{robust}}}")
        (d / f"{name}.yaml").write_text(text)
    assert report.tables.defended_reference().name == "sew18_max_at" and report.adversarial_runs() == {}
    pgd = config.load_profile("quick")["sew18_max_pgdat"]
    hist = [{"epoch": e, "val_acc": 0.3, "robust_val_acc": r} for e, r in ((1, 0.1), (2, 0.3), (3, 0.3))]
    results.write_json(results.run_dir(pgd) / "train.json", {"history": hist})
    assert report.tables.defended_reference().name == "sew18_max_pgdat"
    runs = report.adversarial_runs()
    fig = plots.training_run(runs["sew18_max_pgdat"], "run")
    assert list(runs) == ["sew18_max_pgdat"] and "kept: epoch 2" in [t.get_text() for t in fig.axes[0].texts] + [
        h.get_label() for h in fig.axes[0].lines
    ]
    # the direct-input PGD-AT control: its run is drawn too, but it never becomes the defended reference
    text = TINY.format(name="sew18_max_direct_pgdat", data="x", arch="sew_resnet18", pool="max") + "role: control\n"
    (d / "sew18_max_direct_pgdat.yaml").write_text(
        text.replace("batch_size: 8}", "batch_size: 8, adversarial: {method: pgd, steps: 3}, robust_val: 4}")
    )
    twin = config.load_profile("quick")["sew18_max_direct_pgdat"]
    results.write_json(results.run_dir(twin) / "train.json", {"history": hist})
    assert report.tables.defended_reference().name == "sew18_max_pgdat"
    assert sorted(report.adversarial_runs()) == ["sew18_max_direct_pgdat", "sew18_max_pgdat"]


def test_defended_summary_says_whether_the_reference_survives_the_audit(tiny_project, monkeypatch):
    """PGD-AT issue, item 3: the robustness chapter's paragraph on the defended reference's audit names PGD-7,
    AutoAttack, the worst case and the flags that fired, and says whether PGD-7 survives the suite."""
    from snnlib.report import audit_rows

    (tiny_project / "configs" / "quick" / "sew18_max_at.yaml").write_text(
        TINY.format(name="sew18_max_at", data="x", arch="sew_resnet18", pool="max") + "role: defended\n"
    )

    def acc(k, n=500):
        return stats.accuracy([True] * k + [False] * (n - k))

    def fake(worst):
        final = {"pgd7": acc(150), "worst": acc(worst), "cause": "gradient obfuscation"}
        flags = [{"check": "Random noise beats PGD-7", "fired": True}, {"check": "Other", "fired": False}]
        return lambda cfg: {"final": final, "attacks": [{"id": "autoattack", "acc": 0.062}], "flags": flags}

    monkeypatch.setattr(audit_rows.audit_, "run_config", fake(25))
    text = audit_rows.defended_summary("quick")
    assert "`sew18_max_at`" in text and "AutoAttack 6.2% [4.3, 8.7]" in text and "worst case" in text
    assert "fired: Random noise beats PGD-7." in text and "does not survive" in text and "Other" not in text
    monkeypatch.setattr(audit_rows.audit_, "run_config", fake(140))
    assert "overlaps" in audit_rows.defended_summary("quick")


def test_controls_table_keeps_counts_as_integers_beside_an_untrained_model(tiny_project, monkeypatch):
    """A model still training gets a row that says so, and the audit's n stays an integer (500, not 500.00)."""
    from snnlib import results, train

    d = tiny_project / "configs" / "quick"
    for name, role in (("sew18_max", "paper"), ("ctl", "control")):
        (d / f"{name}.yaml").write_text(
            TINY.format(name=name, data="x", arch="sew_resnet18", pool="max") + f"role: {role}\n"
        )

    def trained(cfg):
        if cfg.name == "ctl":
            raise results.ResultMissing("not trained")

    monkeypatch.setattr(train, "ensure_trained", trained)
    monkeypatch.setattr(report.tables, "outcomes", lambda cfg: {"clean": [1, 0], "fgsm": [1, 0], "pgd": [0, 0]})
    monkeypatch.setattr(report.tables, "_audit_cells", lambda cfg: {"n (audit)": 500, "worst case (audit)": "0.0%"})
    df = report.tables.controls_table("quick")
    text = plots.md_table(df, "c", "t").data.replace(" ", "")
    assert list(df.clean)[1] == "not yet trained" and "|500|" in text and "500.0" not in text
