"""The benchmark's reduced form.

``bench.run(quick=True)`` runs the authors' pipeline and snnlib's path side by side on a tiny
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
    return bench.run(quick=True, out=str(out))


def test_quick_bench_same_numbers(quick):
    assert quick["final"]["equal"] is True
    assert quick["final"]["spikes_equal"] is True
    assert quick["checks"], "no comparison was made"
    for name, c in quick["checks"].items():
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


def test_bench_rejects_bad_arguments():
    with pytest.raises(SnnlibError):
        bench.run(quick=True, repeats=0)
    with pytest.raises(SnnlibError):
        bench.run(quick=True, device="tpu")
    with pytest.raises(SnnlibError):
        bench.run(quick=True, extras=["fp8"])


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
