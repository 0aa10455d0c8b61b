"""SEW and Spiking ResNets on SpikingJelly, and the one classifier object (paper Section 4.1).

``build_model`` returns a multi-step SpikingJelly network that maps spikes
``[T,B,C,H,W]`` to outputs ``[T,B,num_classes]``. Every neuron is an IF neuron
(threshold 1, hard reset to 0) with the ATan surrogate of Eq. 4 (alpha=2),
trained by BPTT. ``pool`` selects the stem pooling op (MaxPool2d or
AvgPool2d, kernel 3, stride 2, padding 1): the swap behind Table 3 and Figs. 3/5.

The networks are SpikingJelly's ``SEWResNet`` and ``SpikingResNet`` (same
blocks, ``_make_layer`` and ``forward``); the subclasses here only scale the
base width and the stem's input channels, which SpikingJelly hard-codes to 64
and 3. At ``width=64, in_channels=3`` they are SpikingJelly's networks,
parameter for parameter. The stem pool keeps SpikingJelly's attribute name
``maxpool`` (its ``forward`` calls it), so in an ``pool="avg"`` model
``net.maxpool`` is an ``AvgPool2d``.

``SpikingClassifier(net, encoder)`` is what attacks, probes and torchattacks
see: images ``[B,C,H,W]`` in [0,1] in, T-averaged logits ``[B,num_classes]`` out.
"""

from __future__ import annotations

from copy import deepcopy

import torch
from spikingjelly.activation_based import functional, layer, surrogate
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based.model import sew_resnet, spiking_resnet
from torch import nn

from .errors import NotApplicable, SnnlibError, check_choice

ARCHS = {
    "sew_resnet18": ("sew", sew_resnet.BasicBlock, [2, 2, 2, 2]),
    "sew_resnet34": ("sew", sew_resnet.BasicBlock, [3, 4, 6, 3]),
    "sew_resnet50": ("sew", sew_resnet.Bottleneck, [3, 4, 6, 3]),
    "spiking_resnet18": ("spiking", spiking_resnet.BasicBlock, [2, 2, 2, 2]),
    "spiking_resnet34": ("spiking", spiking_resnet.BasicBlock, [3, 4, 6, 3]),
    "spiking_resnet50": ("spiking", spiking_resnet.Bottleneck, [3, 4, 6, 3]),
}
POOLS = {"max": layer.MaxPool2d, "avg": layer.AvgPool2d}
NEURONS = ("if", "relu")
#: detach_reset used by the authors' code: True for SEW, False for Spiking-ResNet.
AUTHORS_DETACH_RESET = {"sew": True, "spiking": False}

#: display names of the architectures (the paper's spelling)
ARCH_LABEL = {
    "sew_resnet18": "SEW-ResNet18",
    "sew_resnet34": "SEW-ResNet34",
    "sew_resnet50": "SEW-ResNet50",
    "spiking_resnet18": "Spiking-ResNet18",
    "spiking_resnet34": "Spiking-ResNet34",
    "spiking_resnet50": "Spiking-ResNet50",
}


def if_neuron_kwargs(detach_reset: bool, alpha: float = 2.0) -> dict:
    """IF neuron of the paper: V_th = 1, hard reset to 0, ATan surrogate (Eq. 4)."""
    return dict(v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate.ATan(alpha=alpha), detach_reset=detach_reset)


class _ReLU(nn.ReLU):
    """ReLU that accepts (and ignores) the spiking-neuron keyword arguments: the ANN twin."""

    def __init__(self, **_):
        super().__init__()


def _init_trunk(net, block, layers, num_classes, width, in_channels, pool, make_neuron, layer_kw, neuron_kw):
    """Build SpikingJelly's ResNet trunk with base width ``width`` (their __init__ with 64 -> width)."""
    net._norm_layer = layer.BatchNorm2d
    net.inplanes, net.dilation, net.groups, net.base_width = width, 1, 1, 64
    net.conv1 = layer.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = layer.BatchNorm2d(width)
    net.sn1 = make_neuron(**deepcopy(neuron_kw))
    net.maxpool = POOLS[pool](kernel_size=3, stride=2, padding=1)
    for i, n in enumerate(layers):
        stage = net._make_layer(
            block, width * 2**i, n, stride=1 if i == 0 else 2, spiking_neuron=make_neuron, **layer_kw, **neuron_kw
        )
        setattr(net, f"layer{i + 1}", stage)
    net.avgpool = layer.AdaptiveAvgPool2d((1, 1))
    net.fc = layer.Linear(width * 8 * block.expansion, num_classes)
    for m in net.modules():  # SpikingJelly's (torchvision's) initialisation
        if isinstance(m, layer.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, layer.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


class SEWResNet(sew_resnet.SEWResNet):
    """SpikingJelly's SEW-ResNet (ADD connection, Fang et al. 2021) with a scalable base width."""

    def __init__(self, block, layers, num_classes, width=64, in_channels=3, pool="max", make_neuron=None, **neuron_kw):
        nn.Module.__init__(self)
        _init_trunk(self, block, layers, num_classes, width, in_channels, pool, make_neuron, {"cnf": "ADD"}, neuron_kw)


class SpikingResNet(spiking_resnet.SpikingResNet):
    """SpikingJelly's Spiking-ResNet (Hu et al. 2021) with a scalable base width."""

    def __init__(self, block, layers, num_classes, width=64, in_channels=3, pool="max", make_neuron=None, **neuron_kw):
        nn.Module.__init__(self)
        _init_trunk(self, block, layers, num_classes, width, in_channels, pool, make_neuron, {}, neuron_kw)


def build_model(
    arch: str,
    num_classes: int,
    pool: str = "max",
    in_channels: int = 3,
    width: int = 64,
    detach_reset: bool | None = None,
    neuron: str = "if",
    surrogate_alpha: float = 2.0,
) -> nn.Module:
    """Multi-step SEW / Spiking ResNet: ``[T,B,C,H,W]`` -> ``[T,B,num_classes]``.

    Args:
        arch: ``sew_resnet18|34|50`` or ``spiking_resnet18|34|50``.
        num_classes: output classes.
        pool: stem pooling, ``"max"`` (paper default) or ``"avg"`` (Table 3).
        in_channels: 3 for images, 2 for CIFAR10-DVS frames.
        width: base width (64 in the paper; smaller for CPU-sized runs).
        detach_reset: None uses the authors' choice (True for SEW, False for Spiking-ResNet).
        neuron: ``"if"`` (the paper) or ``"relu"`` (the ANN twin used by the audit).
        surrogate_alpha: ATan alpha (paper: 2).
    """
    check_choice("arch", arch, tuple(ARCHS))
    check_choice("pool", pool, tuple(POOLS))
    check_choice("neuron", neuron, NEURONS)
    for what, v in (("num_classes", num_classes), ("in_channels", in_channels), ("width", width)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise SnnlibError(f"{what} must be a positive integer, got {v!r}")
    family, block, layers = ARCHS[arch]
    if detach_reset is None:
        detach_reset = AUTHORS_DETACH_RESET[family]
    cls = SEWResNet if family == "sew" else SpikingResNet
    if neuron == "if":
        make_neuron, neuron_kw = sj_neuron.IFNode, if_neuron_kwargs(detach_reset, surrogate_alpha)
    else:
        make_neuron, neuron_kw = _ReLU, {}
    net = cls(block, layers, num_classes, width, in_channels, pool, make_neuron, **neuron_kw)
    functional.set_step_mode(net, "m")
    return net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def spiking_neurons(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """All spiking-neuron modules of ``net`` with their names, of any library (:mod:`snnlib.neurons`: SpikingJelly,
    snnTorch, Norse)."""
    from . import neurons

    return neurons.find(net)


def require_spiking(net: nn.Module, what: str, if_only: bool | None = None) -> list[nn.Module]:
    """The spiking neurons of ``net``; :class:`~snnlib.errors.NotApplicable` if it has none. With ``if_only`` (by
    default: ``what`` names ASSG, RGA or BPTR, :data:`snnlib.neurons.IF_ONLY`) every neuron must be a SpikingJelly
    multi-step IF neuron, else NotApplicable names the others."""
    from . import neurons
    from .neurons import spikingjelly

    found = [m for _, m in spiking_neurons(net)]
    if not found:
        raise NotApplicable(f"{what} needs spiking neurons, and this model has none (an ANN?)")
    others = [m for m in found if not spikingjelly.multistep_if(m)]
    if (neurons.if_only(what) if if_only is None else if_only) and others:
        raise NotApplicable(
            f"{what} is defined for SpikingJelly multi-step IF neurons only; this model has {neurons.describe(others)}"
        )
    return found


class SpikingClassifier(nn.Module):
    """The one model object downstream code sees: images in, T-averaged logits out.

    ``forward(x)`` encodes ``x`` (``[B,C,H,W]`` in [0,1], or DVS frames
    ``[B,T,C,H,W]`` with a frame encoder), runs the multi-step network and
    returns the mean over T of its outputs, ``[B,num_classes]``. All neuron
    state is reset before and after every call, so repeated calls on the same
    input give identical logits and any attack library can call it.

    With ``encoder=None`` it takes spike tensors ``[T,B,...]`` directly (the
    authors' spike-space threat model).
    """

    def __init__(self, net: nn.Module, encoder: nn.Module | None = None):
        super().__init__()
        self.net = net
        self.encoder = encoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is None:
            return x
        return self.encoder(x)

    def forward_spikes(self, spikes: torch.Tensor) -> torch.Tensor:
        """Logits ``[B,K]`` for an already-encoded input ``[T,B,...]``."""
        if not isinstance(spikes, torch.Tensor) or spikes.dim() < 3:
            shape = tuple(spikes.shape) if isinstance(spikes, torch.Tensor) else type(spikes).__name__
            raise SnnlibError(f"spike input must be a tensor [T,B,...] (rank >= 3), got {shape}")
        functional.reset_net(self.net)
        try:
            return self.net(spikes).mean(0)
        finally:
            functional.reset_net(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_spikes(self.encode(x))

    @property
    def takes_spikes(self) -> bool:
        return self.encoder is None
