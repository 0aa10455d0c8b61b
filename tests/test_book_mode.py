"""A committed profile's book reads its results and computes nothing (SNNLIB_COMPUTE), and shows what is missing."""

from importlib import import_module

import pytest

from snnlib import audit, config, places, report, results
from snnlib.audit import run
from snnlib.errors import SnnlibError


def test_book_computes_by_profile_and_env(monkeypatch):
    monkeypatch.delenv("SNNLIB_COMPUTE", raising=False)
    assert places.book_computes("quick") and not places.book_computes("medium") and not places.book_computes("paper")
    monkeypatch.setenv("SNNLIB_COMPUTE", "1")
    assert places.book_computes("medium")
    monkeypatch.setenv("SNNLIB_COMPUTE", "0")
    assert not places.book_computes("quick")
    monkeypatch.setenv("SNNLIB_COMPUTE", "yes")
    with pytest.raises(SnnlibError, match="SNNLIB_COMPUTE 'yes'; expected one of: 0, 1"):
        places.book_computes("quick")


def test_the_book_reads_committed_profiles_without_a_global_switch(monkeypatch, tmp_path):
    monkeypatch.delenv("SNNLIB_COMPUTE", raising=False)
    path = tmp_path / "r.json"
    assert report.use_profile("medium")["profile"] == "medium"  # the profile box only: no mode is switched
    assert results.cached(path, lambda: {"x": 1})["x"] == 1 and path.exists()
    path.unlink()
    with results.book_reading("medium"), pytest.raises(results.ResultMissing, match="has not been computed"):
        results.cached(path, lambda: {"x": 1})
    with results.only_cached(), results.book_reading("quick"):  # never relaxes an outer read-only block
        with pytest.raises(results.ResultMissing):
            results.cached(path, lambda: {"x": 1})
    with results.book_reading("quick"):
        assert results.cached(path, lambda: {"x": 2})["x"] == 2
    monkeypatch.setenv("SNNLIB_COMPUTE", "1")
    with results.book_reading("medium"):
        assert results.cached(path, lambda: {"x": 3}, force=True)["x"] == 3


def _tiny(cifar_dir, name):
    sets = [
        f"data.dataset=npz:{cifar_dir}",
        "data.n_per_class=6",
        "data.val_fraction=0.34",
        "data.test_per_class=1",
        "data.eval_per_class=1",
        "model.width=2",
        "train.epochs=1",
        "train.batch_size=8",
        "profile=custom",
        f"name={name}",
    ]
    return config.from_dict(config.apply_overrides({}, sets))


def test_available_audits_and_how_far_the_others_got(cifar_dir, monkeypatch):
    done, todo = _tiny(cifar_dir, "done"), _tiny(cifar_dir, "todo")
    monkeypatch.setattr(run, "audited_configs", lambda p=None: {"done": done, "todo": todo})
    key = run._keyed(todo, None)[2]
    results.write_json(results.run_dir(todo) / f"audit-{key[:10]}.partial.json", {"done": ["clean", "fgsm_pgd7"]})
    assert audit.partial_progress(todo) == (2, len(audit.CHECKS))

    def cached_only(cfg, *a, **k):
        if cfg.name == "done":
            return {"name": "done"}
        raise results.ResultMissing("not computed")

    with results.only_cached():  # the controls table of a committed profile says so, and attacks nothing
        assert report.tables._audit_cells(todo)["worst case (audit)"] == "not yet audited"
    monkeypatch.setattr(run, "run_config", cached_only)
    res, missing = audit.available("medium")
    assert list(res) == ["done"] and list(missing) == ["todo"]
    assert missing["todo"].startswith(f"2 of {len(audit.CHECKS)} checks done")
    assert "SNNLIB_PROFILE=medium python -m snnlib reproduce todo --stages audit" in missing["todo"]
    monkeypatch.setattr(run, "audited_configs", lambda p=None: {"todo": todo})
    with pytest.raises(SnnlibError, match="no audit result in the medium profile yet"):
        audit.available("medium")


def test_report_row_of_an_unfinished_audit_says_how_far_it_got(cifar_dir, monkeypatch):
    todo = _tiny(cifar_dir, "todo")
    key = run._keyed(todo, None)[2]
    results.write_json(results.run_dir(todo) / f"audit-{key[:10]}.partial.json", {"done": ["clean"]})
    monkeypatch.setattr(audit, "audited_configs", lambda p=None: {"todo": todo})
    with results.only_cached():
        rows = import_module("snnlib.report.verdicts").audit_claims("medium")
    assert [r["verdict"] for r in rows] == ["not yet computed"]
    assert rows[0]["ours"].startswith(f"audit not finished: 1 of {len(audit.CHECKS)} checks done")
