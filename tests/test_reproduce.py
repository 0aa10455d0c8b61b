"""python -m snnlib reproduce: every per-config result the book reads, cached and resumable."""

import pytest

from snnlib import config, results
from snnlib.errors import SnnlibError
from snnlib.reproduce import reproduce


def tiny(cifar_dir):
    sets = [f"data.dataset=imagefolder:{cifar_dir}", "data.n_per_class=6", "data.val_fraction=0.34",
            "data.test_per_class=2", "data.eval_per_class=1", "model.width=2", "train.epochs=1",
            "train.batch_size=8", "profile=custom", "name=tiny", "attack.eps_sweep=[0.01]"]
    return config.from_dict(config.apply_overrides({}, sets))


def test_reproduce_stages_and_cache(cifar_dir, monkeypatch):
    cfg = tiny(cifar_dir)
    logs = []
    out = reproduce(cfg, ("train", "evaluate", "probes"), log=logs.append)
    assert list(out) == ["train", "evaluate", "probes"] and len(logs) == 3
    assert len(out["evaluate"]) == 3  # standard, authors at 8/255 and at 6/255
    assert any("authors-probe" in f for f in out["probes"]) and any("wsparsity" in f for f in out["probes"])
    assert not any(f.startswith("/") for fs in out.values() for f in fs)  # portable paths
    with results.only_cached():  # a second run finds everything cached
        assert reproduce(cfg, ("train", "evaluate", "probes"), log=logs.append) == out


def test_reproduce_unknown_stage(cifar_dir):
    with pytest.raises(SnnlibError, match="unknown stage"):
        reproduce(tiny(cifar_dir), ("train", "plot"))
