"""reproduce --executor local|slurm|debug: submitit jobs give what the in-process run gives; bad input, one line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from snnlib import cli, config, executors, places, train
from snnlib.errors import SnnlibError
from snnlib.reproduce import reproduce

TINY = """name: {name}
profile: quick
role: control
seed: {seed}
data: {{dataset: "npz:{data}", n_per_class: 4, val_fraction: 0.25, test_per_class: 2, eval_per_class: 2}}
model: {{arch: sew_resnet18, pool: max, width: 2}}
train: {{epochs: 2, batch_size: 8}}
attack: {{eps_sweep: [], batch_size: 10}}
"""
STAGES = ("train", "evaluate")


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory, cifar_dir):
    """The first 200 training and 100 test images of CIFAR-10 as an npz folder: read in no time by every job."""
    out = tmp_path_factory.mktemp("small-npz")
    for split, n in (("train", 200), ("test", 100)):
        with np.load(cifar_dir / f"{split}.npz") as f:
            np.savez(out / f"{split}.npz", x=f["x"][:n], y=f["y"][:n])
    return out


@pytest.fixture
def tiny_project(tmp_path, monkeypatch, small_npz):
    """A project of two tiny configs (``a``, ``b``) in configs/quick/; SNNLIB_HOME points at it."""
    d = tmp_path / "proj" / "configs" / "quick"
    d.mkdir(parents=True)
    (tmp_path / "proj" / "snnlib").mkdir()
    for name, seed in (("a", 1), ("b", 2)):
        (d / f"{name}.yaml").write_text(TINY.format(name=name, seed=seed, data=small_npz))
    monkeypatch.setenv("SNNLIB_HOME", str(tmp_path / "proj"))
    monkeypatch.setenv("SNNLIB_PROFILE", "quick")
    return tmp_path / "proj"


def metrics(root) -> dict:
    """Every result file under ``root``: its final metrics (times left out) and per-sample outcomes, as JSON."""
    out = {}
    for f in sorted((root / "results").rglob("*.json")):
        d = json.loads(f.read_text())
        final = {k: v for k, v in d.get("final", {}).items() if not k.endswith("_s")}
        out[str(f.relative_to(root))] = json.dumps([final, d.get("per_sample")], sort_keys=True)
    return out


def in_process(root, names=("a", "b"), stages=STAGES) -> dict:
    """The reference: :func:`reproduce` in this process, on one thread as the jobs run."""
    places.set_output_root(root)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {n: reproduce(config.load_config(config.resolve(n)), stages, log=lambda m: None) for n in names}
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["debug", "local"])
def test_jobs_give_the_in_process_results(tiny_project, tmp_path, kind):
    ref = in_process(tmp_path / "ref")
    places.set_output_root(tmp_path / kind)
    logs = []
    out = executors.run(["a", "b"], STAGES, kind, parallel=2, log=logs.append)
    assert out == ref  # the same (portable) files, stage by stage
    assert metrics(tmp_path / kind) == metrics(tmp_path / "ref") and len(metrics(tmp_path / "ref")) == 4
    assert sum("done (job" in m for m in logs) == 4  # two configs x two waves
    if kind == "local":  # one log folder per job (the debug executor runs them here, without logs)
        assert len(list((tmp_path / kind / "runs" / "quick" / "jobs").glob("*/*_0_log.out"))) == 4
    else:
        assert executors.run(["a", "b"], STAGES, kind, log=logs.append) == ref  # finished configs: found cached


@pytest.mark.parametrize("kind", ["debug", "local"])
def test_a_failing_job_names_its_config_and_log(tiny_project, tmp_path, kind):
    (tiny_project / "configs" / "quick" / "bad.yaml").write_text(
        TINY.format(name="bad", seed=3, data=tmp_path / "no-such-data")
    )
    with pytest.raises(SnnlibError, match=r"config 'bad' \(job .*\) failed: .*; log: .*_log\.err") as e:
        executors.run(["bad"], ("train",), kind, log=lambda m: None)
    log_file = str(e.value).rsplit("log: ", 1)[1]
    assert "\n" not in str(e.value) and Path(log_file).read_text()


@pytest.mark.slow
def test_a_killed_job_resumes_with_the_same_metrics(tiny_project, tmp_path):
    ref = in_process(tmp_path / "ref", ["a"], ("train",))
    places.set_output_root(tmp_path / "killed")
    cfg = config.load_config(config.resolve("a"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the job (thread count changes CPU results)
    try:
        assert train.train(cfg, stop_after=1)["complete"] is False  # one epoch of two, then "killed"
    finally:
        torch.set_num_threads(before)
    job = executors.ConfigJob("a", str(config.resolve("a")), ("train",), str(places.output_root()), {})
    assert job.checkpoint().function is job  # what submitit requeues after a preemption
    assert executors.run(["a"], ("train",), "local", log=lambda m: None) == ref
    assert metrics(tmp_path / "killed") == metrics(tmp_path / "ref")
    train_log = train.checkpoint_paths(cfg)["dir"] / "train.log"
    assert "resuming after epoch 1" in train_log.read_text()


def test_time_limits():
    assert [executors.parse_time(t) for t in ("90", "01:30:00", "1-00:00:00", "00:00:30", 45)] == [90, 90, 1440, 1, 45]
    for bad in ("1h", "25:00", "1-25:00:00", "0", "01:61:00", ""):
        with pytest.raises(SnnlibError, match=r"--time takes minutes \(90\), HH:MM:SS"):
            executors.parse_time(bad)


def test_cluster_config_file_and_flags(tmp_path, monkeypatch):
    f = tmp_path / "cluster.yaml"
    f.write_text("partition: gpu\ntime: '02:00:00'\ngpus_per_job: 1\nsbatch_args: {mem: 8G}\n")
    o = executors.options(f, ["qos=high"], partition="debug", cpus_per_job=None)
    assert (o.partition, o.time_min, o.gpus_per_job, o.cpus_per_job) == ("debug", 120, 1, 1)
    assert o.sbatch_args == {"mem": "8G", "qos": "high"}
    fake_slurm(tmp_path, monkeypatch)
    ex = executors.executor("slurm", tmp_path / "jobs", o)
    p = ex.parameters
    assert (p["partition"], p["time"], p["gpus_per_node"], p["additional_parameters"]["qos"]) == (
        "debug",
        120,
        1,
        "high",
    )
    f.write_text("time: 8:00:00  # unquoted: YAML alone would read 28800\n")
    assert executors.options(f).time_min == 480
    f.write_text("partitions: gpu\n")
    with pytest.raises(SnnlibError, match=r"unknown key\(s\) \['partitions'\]"):
        executors.options(f)
    with pytest.raises(SnnlibError, match="KEY=VALUE"):
        executors.options(None, ["mem"])


def fake_slurm(tmp_path, monkeypatch, sbatch="exit 1"):
    """``sbatch`` and ``srun`` stand-ins on a PATH that has nothing else of Slurm's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in (("sbatch", sbatch), ("srun", "exit 0"), ("squeue", "exit 0")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def cli_error(capsys, *argv) -> str:
    """The one line ``python -m snnlib reproduce ...`` prints for bad input (exit status 2)."""
    assert cli.main(["reproduce", "-q", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_is_one_line(tiny_project, tmp_path, monkeypatch, capsys):
    assert "HH:MM:SS" in cli_error(capsys, "--all", "--executor", "local", "--time", "1h")
    assert "--partition apply to --executor local or slurm" in cli_error(capsys, "--all", "--partition", "gpu")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "needs Slurm's sbatch and srun on PATH" in cli_error(capsys, "--all", "--executor", "slurm")
    rejects = (
        "echo 'sbatch: error: invalid partition specified: nope' >&2; "
        "echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2; exit 1"
    )
    fake_slurm(tmp_path, monkeypatch, rejects)
    err = cli_error(capsys, "--all", "--executor", "slurm", "--partition", "nope", "--jobs-dir", str(tmp_path / "j"))
    assert "the cluster refused the jobs" in err and "Invalid partition name specified" in err
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--all", "--executor", "kubernetes"])
