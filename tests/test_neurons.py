"""Neurons of SpikingJelly, snnTorch and Norse behind one interface (snnlib.neurons): reset, surrogate swap, a
missing library's error, and the audit of tiny networks written the way each library's tutorials write them."""

import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from snnlib import attacks, audit, models, neurons
from snnlib.audit import primitives as checks
from snnlib.errors import NotApplicable, SnnlibError

snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
from snntorch import surrogate as snn_surrogate  # noqa: E402 (after the importorskip above)
from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402

T = 4
TINY = {
    "ladder_steps": [2],
    "ladder_restarts": 1,
    "trace_steps": 2,
    "sweep_steps": 2,
    "sweep_eps": [8 / 255, 1.0],
    "estimator_steps": 2,
    "apgd_steps": 2,
    "sapgd_steps": 2,
    "level_steps": 2,
    "square_queries": 4,
    "spsa_steps": 1,
    "spsa_samples": 2,
    "transfer_steps": 2,
    "noise_draws": 2,
    "eot_samples": 2,
    "diagnostics_images": 0,
    "batch_size": 16,
}


def _gain(lin: nn.Linear, k: float = 6.0) -> nn.Linear:
    with torch.no_grad():
        lin.weight.mul_(k)  # enough input current that the neurons fire within T steps
    return lin


class SnnTorchNet(nn.Module):
    """snnTorch's tutorials: ``nn.Sequential`` with ``snn.Leaky(init_hidden=True)`` looped over T steps; this
    forward forgets ``utils.reset(self.net)``, so the membrane carries over between calls."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.AdaptiveAvgPool2d(8),
            nn.Flatten(),
            _gain(nn.Linear(192, 32)),
            snn.Leaky(beta=0.9, init_hidden=True, spike_grad=snn_surrogate.atan()),
            nn.Linear(32, 10),
        )

    def forward(self, x):
        return torch.stack([self.net(x) for _ in range(T)]).mean(0)


class NorseNet(nn.Module):
    """Norse's tutorials: ``SequentialState`` with a ``LIFCell`` called step by step with its state; this forward
    keeps the state on the model between calls (starts from ``self.state``, not None)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = norse.SequentialState(
            nn.AdaptiveAvgPool2d(8), nn.Flatten(), _gain(nn.Linear(192, 32), 20.0), norse.LIFCell(), nn.Linear(32, 10)
        )
        self.state = None

    def forward(self, x):
        out = []
        for _ in range(T):
            y, self.state = self.net(x, self.state)
            out.append(y)
        return torch.stack(out).mean(0)


class SJNet(nn.Module):
    """SpikingJelly's multi-step style: the image repeated over T, ``IFNode(step_mode="m")``, no ``reset_net``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            layer.AdaptiveAvgPool2d(8),
            layer.Flatten(),
            layer.Linear(192, 32),
            neuron.IFNode(surrogate_function=surrogate.ATan()),
            layer.Linear(32, 10),
        )
        functional.set_step_mode(self.net, "m")

    def forward(self, x):
        return self.net(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).mean(0)


BUILDERS = {"snntorch": SnnTorchNet, "norse": NorseNet, "spikingjelly": SJNet}


@pytest.fixture(scope="module")
def x():
    return torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def _grad(model, x):
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xx).logsumexp(1).sum(), xx)
    return g


@pytest.mark.parametrize("lib", BUILDERS)
def test_prepare_resets_every_library(lib, x):
    raw = BUILDERS[lib]()
    assert [neurons.adapter_of(m).LIBRARY for _, m in models.spiking_neurons(raw)] == [lib]
    with torch.no_grad():
        assert not torch.equal(raw(x), raw(x))  # the state leaks between calls
    assert checks.randomness(raw, x)["kind"] == "stateful"
    m = audit.prepare(raw)
    with torch.no_grad():
        a, b = m(x), m(x)
    assert torch.equal(a, b) and checks.is_deterministic(m, x)
    assert torch.equal(_grad(m, x), _grad(m, x))  # no graph carried into the next call


@pytest.mark.parametrize("lib", ["snntorch", "norse", "spikingjelly"])
def test_surrogate_swap_changes_backward_not_forward(lib, x):
    m = audit.prepare(BUILDERS[lib]())
    ((_, cell),) = models.spiking_neurons(m)
    before = neurons.surrogate(cell)
    with torch.no_grad():
        logits = m(x)
    g0 = _grad(m, x)
    assert g0.abs().sum() > 0
    with attacks.estimator(m, "sigmoid-4"):
        assert neurons.surrogate(cell)["name"] == "Sigmoid" and neurons.surrogate(cell)["alpha"] == 4.0
        with torch.no_grad():
            assert torch.equal(m(x), logits)  # the library's forward, bit for bit
        assert not torch.allclose(_grad(m, x), g0)
    assert neurons.surrogate(cell) == before and torch.equal(_grad(m, x), g0)
    if lib != "spikingjelly":
        for name in ("rga", "bptr"):
            with pytest.raises(NotApplicable, match=f"SpikingJelly multi-step IF.*{lib}"), attacks.estimator(m, name):
                pass
        with pytest.raises(NotApplicable, match="ASSG"):
            models.require_spiking(m, "ASSG")


def test_mixed_model_swaps_all_and_skips_if_only(x):
    mixed = nn.Sequential(SJNet(), snn.Leaky(beta=0.5, init_hidden=True), nn.Linear(10, 10))
    found = models.spiking_neurons(mixed)
    assert {neurons.adapter_of(m).LIBRARY for _, m in found} == {"spikingjelly", "snntorch"}
    assert neurons.surrogate(found[1][1]) == {"library": "snntorch", "name": "atan", "alpha": 2.0}
    with attacks.swap_surrogate(mixed, "atan-8"):
        assert all(neurons.surrogate(m)["alpha"] == 8.0 for _, m in found)
    with pytest.raises(NotApplicable, match="snntorch Leaky"), attacks.rate_gradient(mixed):
        pass
    single = nn.Sequential(nn.Flatten(), nn.Linear(192, 10), neuron.IFNode())  # SpikingJelly single-step
    m = audit.prepare(single)
    with torch.no_grad():
        assert torch.equal(m(x), m(x))
    with attacks.swap_surrogate(m, "rect-1"):
        assert neurons.surrogate(single[2])["name"] == "Rect"
    with pytest.raises(NotApplicable, match="IFNode \\(single-step\\)"):
        models.require_spiking(m, "ASSG")


@pytest.mark.parametrize("lib", ["snntorch", "norse"])
def test_missing_library_one_line_error(lib, monkeypatch):
    monkeypatch.setitem(sys.modules, lib, None)  # `import lib` now fails as if not installed
    monkeypatch.delitem(sys.modules, f"snnlib.neurons.{lib}", raising=False)
    with pytest.raises(SnnlibError) as e:
        neurons.get(lib)
    assert f'pip install -e ".[{lib}]"' in str(e.value) and "\n" not in str(e.value)
    assert [n for n, _ in neurons.find(SJNet())] == ["net.3"]  # other libraries still work


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    from conftest import data_dir

    if data_dir() is None:  # no CIFAR-10 here: random images of the same shape
        return torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    from snnlib.data import load_dataset

    ds = load_dataset(
        "cifar10", root=data_dir(), train=False, n_per_class=2, cache_dir=tmp_path_factory.mktemp("cache")
    )
    return ds.batch(torch.arange(16))[0]


@pytest.mark.parametrize("lib", ["snntorch", "norse"])
def test_audit_runs_the_estimators(lib, cifar):
    model = BUILDERS[lib]()
    with torch.no_grad():
        y = audit.prepare(model)(cifar).argmax(1)  # labels it gets right: every image is attacked
    rep = audit.audit(
        model,
        cifar,
        y,
        budget="quick",
        label=f"tiny {lib}",
        progress=False,
        estimators=["atan-2", "sigmoid-4", "rga"],
        assg_A=[0.425],
        **TINY,
    )
    ran = {a["name"] for a in rep.card["attacks"]}
    skipped = {s["attack"]: s["reason"] for s in rep.card["skipped"]}
    assert {"PGD-2 [atan-2]", "PGD-2 [sigmoid-4]"} <= ran
    assert "SpikingJelly multi-step IF" in skipped["PGD-2 [rga]"] and lib in skipped["PGD-2 [rga]"]
    assert any(k.startswith("ASSG") for k in skipped)
    assert not {f["name"]: f["fired"] for f in rep.card["flags"]}["randomness"]
    assert "Not applicable to this model" in rep.to_markdown()
    print(rep.to_markdown())


# ------------------------------------------------------------------ input/output conventions, --fail-on


class Normalized(nn.Module):
    """A classifier trained on ``(x - mean) / std`` (torchvision's convention), which it does not apply itself."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(192, 10))

    def forward(self, z):
        return self.fc(z)


def test_normalize_and_time_major(x):
    from snnlib.audit.conventions import wrap

    mean, std = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]
    net = Normalized(mean, std)
    w = wrap(net, x, normalize=(",".join(map(str, mean)), ",".join(map(str, std))))
    assert torch.allclose(w(x), net((x - net.mean) / net.std))
    with pytest.raises(SnnlibError, match="2 mean.*3 channel") as e:
        wrap(net, x, normalize=("0.5,0.5", "0.2,0.2"))
    assert "\n" not in str(e.value)
    sj = SJNet().net  # [T,B,...] -> [T,B,K]
    w = audit.prepare(wrap(sj, x, time_major=T))
    with torch.no_grad():
        assert torch.equal(w(x), w(x)) and w(x).shape == (8, 10)
    for t, msg in ((0, "no time axis"), (T, r"failed on the images repeated as \[T,B,C,H,W\]")):
        with pytest.raises(SnnlibError, match=msg) as e:  # a model that takes images and returns [B,K]
            audit.audit(SnnTorchNet(), x, torch.zeros(8, dtype=torch.long), time_major=t)
        assert "\n" not in str(e.value)


def test_fail_on(monkeypatch, capsys):
    from snnlib import cli
    from snnlib.audit import conventions, loading

    rules = conventions.parse_fail_on(["flags", "worst-below:0.5"])
    card = {"flags": [{"name": "randomness", "fired": True}], "worst_case_acc": 0.25}
    assert len(conventions.failures(card, rules)) == 2
    assert not conventions.failures({"flags": [], "worst_case_acc": 0.75}, rules)
    for bad in ("worst-below:2", "worst-below", "flag"):
        assert cli.main(["audit", "--model", "x.py:build", "--fail-on", bad, "-q"]) == 2
        assert "--fail-on takes" in capsys.readouterr().err

    full = {**card, "clean_acc": 1.0, "pgd7_acc": 0.5, "worst_case_interval": [0.1, 0.5], "cause": "none"}
    report = SimpleNamespace(card=full, save=lambda out: {"json": "r.json", "markdown": "r.md"})
    monkeypatch.setattr(loading, "load_model", lambda *a: (SnnTorchNet(), "tiny", None))
    monkeypatch.setattr(loading, "load_images", lambda *a: (torch.rand(10, 3, 8, 8), torch.arange(10), 10))
    monkeypatch.setattr(audit, "audit", lambda *a, **k: report)
    with pytest.raises(SystemExit) as e:
        cli.main(["audit", "--model", "x.py:build", "--fail-on", "worst-below:0.3", "-q"])
    assert e.value.code == 1 and "worst-case accuracy 0.250 below 0.3" in capsys.readouterr().err
    assert cli.main(["audit", "--model", "x.py:build", "--fail-on", "worst-below:0.2", "-q"]) == 0
