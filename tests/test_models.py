import pytest
import torch
import torchattacks

from snnlib.encoding import PhaseEncoder
from snnlib.errors import SnnlibError
from snnlib.models import ARCHS, SpikingClassifier, build_model, count_parameters, spiking_neurons

# torchvision ResNet-18/34/50 with a 10-way head: the SEW/Spiking ResNets have the same parameters
PAPER_PARAMS = {18: 11_181_642, 34: 21_289_802, 50: 23_528_522}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_parameter_counts_full_width(arch):
    depth = int(arch[-2:])
    assert count_parameters(build_model(arch, 10)) == PAPER_PARAMS[depth]


def test_full_width_matches_spikingjelly_factory():
    from spikingjelly.activation_based import neuron
    from spikingjelly.activation_based.model import sew_resnet

    ref = sew_resnet.sew_resnet18(spiking_neuron=neuron.IFNode, num_classes=10, cnf="ADD")
    ours = build_model("sew_resnet18", 10)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_forward_shapes(arch, pool):
    net = build_model(arch, 7, pool=pool, width=2)
    out = net((torch.rand(3, 2, 3, 32, 32) > 0.5).float())
    assert out.shape == (3, 2, 7)
    assert type(net.maxpool).__name__ == ("MaxPool2d" if pool == "max" else "AvgPool2d")


def test_neurons_are_paper_if():
    net = build_model("sew_resnet18", 10, width=2)
    for _, n in spiking_neurons(net):
        assert n.v_threshold == 1.0 and n.v_reset == 0.0 and n.detach_reset
        assert type(n.surrogate_function).__name__ == "ATan" and n.surrogate_function.alpha == 2.0
    sp = build_model("spiking_resnet18", 10, width=2)
    assert not any(n.detach_reset for _, n in spiking_neurons(sp))


def test_dvs_channels_and_relu_twin():
    net = build_model("sew_resnet18", 10, in_channels=2, width=2)
    assert net(torch.rand(2, 1, 2, 48, 48)).shape == (2, 1, 10)
    ann = build_model("sew_resnet18", 10, width=2, neuron="relu")
    assert not spiking_neurons(ann)


def test_reset_determinism(tiny_model, images):
    x, _ = images
    a, b = tiny_model(x), tiny_model(x)
    assert a.shape == (4, 10) and torch.equal(a, b)


def test_spike_input(tiny_model, images):
    x, _ = images
    spikes = PhaseEncoder()(x)
    raw = SpikingClassifier(tiny_model.net, None)
    assert torch.equal(raw(spikes), tiny_model(x))
    with pytest.raises(SnnlibError, match="rank >= 3"):
        raw(torch.rand(4, 3))


def test_torchattacks_runs_unchanged(tiny_model, images):
    x, y = images
    adv = torchattacks.FGSM(tiny_model, eps=8 / 255)(x, y)
    assert adv.shape == x.shape
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6
    assert (adv != x).any()  # the STE gradient reaches the pixels


def test_gradient_reaches_pixels_only_with_ste(images):
    x, y = images
    torch.manual_seed(0)
    net = build_model("sew_resnet18", 10, width=4)
    for grad, nonzero in (("ste", True), ("none", False)):
        model = SpikingClassifier(net, PhaseEncoder(grad=grad)).eval()
        xg = x.clone().requires_grad_(True)
        out = model(xg)
        loss = torch.nn.functional.cross_entropy(out, y)
        if nonzero:
            (g,) = torch.autograd.grad(loss, xg)
            assert g.abs().sum() > 0
        else:
            assert not out.requires_grad or torch.autograd.grad(loss, xg, allow_unused=True)[0] is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(arch="resnet18"), "unknown arch 'resnet18'"),
        (dict(arch="sew_resnet18", pool="min"), "unknown pool 'min'.*max, avg"),
        (dict(arch="sew_resnet18", width=0), "width must be a positive integer"),
        (dict(arch="sew_resnet18", neuron="lif"), "unknown neuron"),
    ],
)
def test_bad_model_args(kwargs, match):
    with pytest.raises(SnnlibError, match=match):
        build_model(num_classes=10, **kwargs)
