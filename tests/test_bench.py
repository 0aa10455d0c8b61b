"""The benchmark's reduced form.

``bench.run(form="quick")`` runs the authors' pipeline and snnlib's path side by side on a tiny
SEW-ResNet-18 and must find the same logits, the same adversarial inputs and predictions, and
report speed-up ratios.
"""

import json
import math
import time

import pytest
import torch

from snnlib import bench
from snnlib.errors import SnnlibError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny ops: thread hand-offs cost more than they save (and CI machines are shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def quick(tmp_path_factory, _one_thread):
    out = tmp_path_factory.mktemp("bench") / "cpu-quick.json"
    return bench.run(form="quick", out=str(out))


def test_quick_bench_same_numbers(quick):
    assert quick["final"]["equal"] is True
    assert quick["final"]["spikes_equal"] is True
    assert quick["checks"], "no comparison was made"
    for name, c in quick["checks"].items():
        if not c["in_path"]:  # a lever: recorded, not part of snnlib's path (see test_quick_bench_levers)
            continue
        assert c["passed"], name
        if name.startswith("train"):
            assert c["logits_maxdiff"] == 0 and c["loss_diff"] == 0, name
            assert c["grads_max_rel_diff"] <= bench.GRAD_TOL, name
        else:
            for k in ("clean", "fgsm", "pgd"):
                assert c[f"{k}_logits_maxdiff"] <= bench.LOGIT_TOL, (name, k)
            for k in ("fgsm", "pgd"):
                assert c[f"{k}_adv_elements_differing"] == 0, (name, k)
                assert c[f"{k}_predictions_differing"] == 0, (name, k)


def test_quick_bench_reports_ratios(quick):
    final = quick["final"]
    for kind in ("train", "eval"):
        for b in bench.QUICK["batches"]:
            r = final[f"{kind}_b{b}_speedup"]
            assert math.isfinite(r) and r > 0
    saved = json.loads(open(quick["result_file"]).read())
    assert saved["final"] == final
    assert saved["machine"]["cpu_model"] and saved["machine"]["torch_threads"] >= 1
    variants = {(r["workload"], r["batch"], r["variant"]) for r in saved["table"]}
    for kind in ("train", "eval"):
        assert set(bench.VARIANTS["cpu"][kind]) <= {v for w, b, v in variants if w == kind}


def test_quick_bench_levers(quick):
    """Every lever has a row at the paper's batch; the exact ones give the numbers of the row they change."""
    from snnlib.bench import levers

    saved = json.loads(open(quick["result_file"]).read())
    b0 = bench.QUICK["batches"][0]
    rows = {(r["workload"], r["variant"]): r for r in saved["table"] if r["batch"] == b0}
    for kind, names in levers.LEVERS.items():
        for v in names:
            r = rows[(kind, v)]
            assert r["role"] == "lever" and r["gain_min"] <= r["gain"] <= r["gain_max"], (kind, v)
    checks = quick["checks"]
    stem = checks[f"train|{b0}|{levers.STEM}"]
    assert stem["logits_maxdiff"] == 0 and stem["grads_max_rel_diff"] <= bench.GRAD_TOL
    assert checks[f"eval|{b0}|{levers.STEM}"]["passed"]
    for kind in ("train", "eval"):  # flushing denormals: the numbers of the same model with denormals kept
        c = checks[f"{kind}|{b0}|{levers.FLUSHED}"]
        assert c["reference"] == levers.DENORMAL and c["passed"]


def test_quick_bench_spread_and_quiet(quick):
    """Every row has its minimum, median and maximum; the run says whether the machine was quiet, and why not."""
    saved = json.loads(open(quick["result_file"]).read())
    for r in saved["table"]:
        assert r["ms_per_image_min"] <= r["ms_per_image"] <= r["ms_per_image_max"]
        assert r["speedup_min"] <= r["speedup_paired"] <= r["speedup_max"]
    q = saved["quiet_check"]
    assert saved["quiet"] is q["quiet"] is saved["final"]["quiet"] and q["quiet"] is (not q["reasons"])
    assert q["cpu_over_wall"] > 0 and "load_average_at_end" in saved["machine"]


def test_quiet_check_reasons():
    from snnlib.bench.measure import quiet_check

    t = {"a": {"cpu": [1.0, 1.0], "wall": [1.0, 1.0]}}
    assert quiet_check(0.0, 1.0, 1, t)["quiet"]
    busy = quiet_check(50.0, 50.0, 1, {"a": {"cpu": [0.2], "wall": [1.0]}})
    assert not busy["quiet"] and len(busy["reasons"]) == 3


def test_fold_bn_same_function():
    """BatchNorm folded into the convolution before it: the same function up to float rounding, no BN left."""
    from snnlib.bench import levers
    from snnlib.models import build_model

    torch.manual_seed(0)
    net = build_model("sew_resnet18", 10, width=4)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2), m.weight.uniform_(0.5, 2)
    net.eval()
    folded = levers.fold_bn(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert len(levers._conv_bn_pairs(net)) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    x = torch.rand(3, 2, 3, 32, 32)
    with torch.no_grad():
        a, b = net.bn1(net.conv1(x)), folded.conv1(x)
        blk, fblk = net.layer2[0], folded.layer2[0]
        h = torch.rand(3, 2, 4, 8, 8)
        c, d = blk.downsample(h), fblk.downsample(h)
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(c, d, atol=1e-5)


def test_an_unknown_form_is_one_clear_error():
    with pytest.raises(SnnlibError, match="unknown bench form 'fast'"):
        bench.run(form="fast")


def test_attack_loop_overhead_and_medium_epoch():
    """The evaluation less its network passes (the attack loop's own work), and the medium epoch from timed steps."""
    from snnlib.bench import profile
    from snnlib.bench.variants import Bench

    b = Bench(4, 4, "cpu", steps=2)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 256, (2, 3, 32, 32), generator=g, dtype=torch.uint8), torch.tensor([0, 1])
    b.calibrate_bn(x)
    o = profile.attack_loop_overhead(b, x, y, repeats=1)
    assert o["eval_s"] > 0 and o["network_passes_s"] > 0 and o["loop_overhead_share"] < 1
    m = profile.medium_throughput(steps=2, chunk=1, variants={"path": None, "stem once": {"stem_once": True}})
    assert set(m["variants"]) == {"path", "stem once"} and m["pixels"] == "lossless"
    for v in m["variants"].values():
        assert v["step_s_min"] <= v["step_s"] <= v["step_s_max"]
        assert v["epoch_s"] == pytest.approx(v["step_s"] * m["epoch_steps"])


def test_bench_rejects_bad_arguments():
    with pytest.raises(SnnlibError):
        bench.run(form="quick", repeats=0)
    with pytest.raises(SnnlibError):
        bench.run(form="quick", device="tpu")
    with pytest.raises(SnnlibError):
        bench.run(form="quick", extras=["fp8"])


def test_peak_memory_sees_a_temporary():
    out = {}
    with bench.peak_memory(torch.device("cpu"), out):
        t = torch.ones(2**23)  # 32 MiB, held for a few samples
        time.sleep(0.05)
        del t
    assert 30 <= out["peak_mb"] < 128


def test_denormal_effect_counts_scales_and_keeps_results(tiny_model, images):
    """BN scales decayed into the denormal range are counted; flushing them keeps logits and input gradients."""
    from snnlib.bench import denormal_effect, denormal_scales

    before = denormal_scales(tiny_model)
    with torch.no_grad():
        bn = next(m for m in tiny_model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        bn.weight[:2] = 1e-41
    after = denormal_scales(tiny_model)
    assert after["bn_scales"] == before["bn_scales"] and after["denormal"] == before["denormal"] + 2
    d = denormal_effect(tiny_model, *images, repeats=1)
    assert d["logits_identical"] and d["gradients_identical"] and d["kept_s"] > 0 and d["flushed_s"] > 0
    assert d["batch"] == 4 and d["denormal"] == after["denormal"]


def test_the_readme_claim_reads_quiet_runs_only(tmp_path, monkeypatch):
    from snnlib import places
    from snnlib.bench import tables

    (tmp_path / "results" / "bench").mkdir(parents=True)
    machine = {"cpu_model": "X", "cpu_cores": 2, "torch_threads": 1}

    def run(name, quiet, train, eval_):
        final = {
            f"{k}_b16_speedup{s}": v + d
            for k, v in (("train", train), ("eval", eval_))
            for s, d in (("", 0), ("_min", -0.1), ("_max", 0.1))
        }
        body = {"quiet": quiet, "device": "cpu", "machine": machine, "final": final}
        (tmp_path / "results" / "bench" / f"{name}.json").write_text(json.dumps(body))

    run("a", True, 2.0, 2.4)
    run("b", True, 2.2, 2.6)
    run("loaded", False, 9.0, 9.0)  # a loaded machine's ratio is not part of the claim
    monkeypatch.setattr(places, "project_root", lambda: tmp_path)
    c = tables.claim()
    assert [n for n, _ in c["runs"]] == ["a.json", "b.json"]
    assert c["train"] == pytest.approx({"median": 2.1, "min": 1.9, "max": 2.3}) and c["eval"][
        "median"
    ] == pytest.approx(2.5)
    assert tables.claim_facts()["q_n"] == 2


def test_medium_epoch_run_and_its_facts_read_quiet_runs_only(tmp_path, monkeypatch):
    from snnlib import places
    from snnlib.bench import profile, tables

    folder = tmp_path / "results" / "bench" / "medium-epoch"
    r = profile.medium_epoch_run(folder / "one.json", steps=2)
    assert set(r["variants"]) == set(profile.EPOCH_PATHS) and json.loads((folder / "one.json").read_text())["kind"]
    assert r["speedup"] == pytest.approx(r["variants"]["spikingjelly"]["epoch_s"] / r["variants"]["snnlib"]["epoch_s"])
    for name, quiet, epoch in (("a", True, 400.0), ("b", True, 500.0), ("loaded", False, 9e9)):
        body = {**r, "quiet": quiet, "variants": {"snnlib": {"epoch_s": epoch}, "spikingjelly": {"epoch_s": 2 * epoch}}}
        (folder / f"{name}.json").write_text(json.dumps(body))
    (folder / "one.json").unlink()
    monkeypatch.setattr(places, "project_root", lambda: tmp_path)
    f = tables.medium_epoch_facts()
    assert f["q_med_runs"] == 2 and f["q_med_epoch"] == 450.0 and f["q_med_speedup"] == 2.0
    assert all(type(f[k]) is float for k in ("q_med_epoch", "q_med_sj_epoch", "q_med_speedup"))  # glue formats them
