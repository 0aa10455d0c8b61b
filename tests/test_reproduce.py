"""python -m snnlib reproduce: every per-config result the book reads, cached and resumable."""

import pytest

from snnlib import config, results
from snnlib.errors import SnnlibError
from snnlib.reproduce import reproduce


def tiny(cifar_dir):
    sets = [
        f"data.dataset=npz:{cifar_dir}",
        "data.n_per_class=6",
        "data.val_fraction=0.34",
        "data.test_per_class=2",
        "data.eval_per_class=1",
        "model.width=2",
        "train.epochs=1",
        "train.batch_size=8",
        "profile=custom",
        "name=tiny",
        "attack.eps_sweep=[0.01]",
    ]
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
    # the spike-space worst case starts from the cached authors'-threat evaluations at 6/255 and 8/255
    from snnlib.spike_case import SpikeCaseSettings, spike_case_result

    s = SpikeCaseSettings(steps=2, restarts=1, apgd_steps=1, n_eval=10, batch_size=10, authors_batch_size=4)
    r = spike_case_result(cfg, s)
    assert [round(e["eps"] * 255) for e in r["per_eps"]] == [6, 8] and r["data"]["n_eval"] == 10
    assert all(e["worst"]["k"] <= e["authors_pgd7"]["k"] for e in r["per_eps"])
    with results.only_cached():
        assert spike_case_result(cfg, s)["per_eps"] == r["per_eps"]
    _interrupted_spike_case_keeps_its_finished_eps(cfg, s, monkeypatch)


def _interrupted_spike_case_keeps_its_finished_eps(cfg, s, monkeypatch):
    from snnlib import spike_case

    s = spike_case.SpikeCaseSettings(**{**s.to_dict(), "seed": 1})  # a fresh key
    real, calls = spike_case.spike_worst_case, []

    def interrupted(*args, **kw):
        calls.append(args[5])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(spike_case, "spike_worst_case", interrupted)
    with pytest.raises(KeyboardInterrupt):
        spike_case.spike_case_result(cfg, s)
    partial = list(results.run_dir(cfg).glob("spikecase-*.partial.json"))
    assert len(partial) == 1 and len(results.read_json(partial[0])["per_eps"]) == 1
    resumed = []
    monkeypatch.setattr(spike_case, "spike_worst_case", lambda *a, **kw: resumed.append(a[5]) or real(*a, **kw))
    r = spike_case.spike_case_result(cfg, s)  # resumes: only the second eps is computed
    assert resumed == calls[1:] and not partial[0].exists()
    assert [round(e["eps"] * 255) for e in r["per_eps"]] == [6, 8]


def test_reproduce_unknown_stage(cifar_dir):
    with pytest.raises(SnnlibError, match="unknown stage"):
        reproduce(tiny(cifar_dir), ("train", "plot"))


@pytest.mark.slow
def test_reproduce_parallel_matches_serial(cifar_dir, tmp_path):
    """Two worker processes of one thread: every result found afterwards, as the serial run would leave it."""
    from snnlib.reproduce import reproduce_parallel

    paths = []
    for name, seed in (("a", 1), ("b", 2)):
        cfg = config.with_overrides(tiny(cifar_dir), [f"name={name}", f"seed={seed}"])
        paths.append(str(tmp_path / f"{name}.yaml"))
        (tmp_path / f"{name}.yaml").write_text(config.to_yaml(cfg))
    logs = []
    out = reproduce_parallel(paths, ("train",), jobs=2, log=logs.append)
    assert set(out) == set(paths) and all(set(v) == {"train"} for v in out.values())
    assert len(logs) == 2
    with results.only_cached():  # the serial path finds exactly these files cached (in the same output root)
        for p in paths:
            assert reproduce(config.load_config(p), ("train",), log=logs.append) == out[p]


def test_publish_in_a_clone_without_the_run_keeps_the_committed_weights(cifar_dir, tmp_path, monkeypatch):
    """A clone that has the committed weights but not the training run (``runs/`` is not in git) re-publishes
    nothing and fails nothing; edited weights are refused; a clone with neither says to train first."""
    import shutil

    from snnlib import checkpoints, places
    from snnlib.errors import CheckpointError

    monkeypatch.setattr(places, "zoo_dir", lambda profile_name=None: tmp_path / "models" / (profile_name or "custom"))
    cfg = tiny(cifar_dir)
    with pytest.raises(CheckpointError, match="train the config first"):
        checkpoints.publish(cfg)
    reproduce(cfg, ("train", "publish"), log=lambda m: None)
    zoo = checkpoints.zoo_path(cfg)
    before = zoo.read_bytes()
    shutil.rmtree(checkpoints.checkpoint_paths(cfg)["dir"])  # what a fresh clone looks like
    assert checkpoints.publish(cfg) == zoo and zoo.read_bytes() == before
    zoo.write_bytes(before[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="does not match its SHA-256"):
        checkpoints.publish(cfg)
