"""The settings' schema: one dataclass per section (data, model, train with its adversarial training, attack) and
the :class:`Config` that holds them, with the content keys of what changes a trained model (``train_key``) and an
attack's numbers (``eval_key``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field


def _choice(*options):
    return {"choices": options}


@dataclass
class DataConfig:
    dataset: str = "cifar10"  # cifar10 | cifar100 | cifar10-dvs | npz:<folder> | imagefolder:<path>
    #: the pixels the data must have: ``lossless`` (the original values: npz arrays or torchvision's files) or
    #: ``jpeg`` (a lossy re-encoding, such as the shared ImageFolder copy; only to read results computed on it).
    #: Loading fails when the data found are of the other kind.
    pixels: str = field(default="lossless", metadata=_choice("lossless", "jpeg"))
    n_per_class: typing.Optional[int] = None  # training images per class before the val split (None: all)
    val_fraction: float = 0.1  # carved, seeded and stratified, from the training images
    test_per_class: typing.Optional[int] = None  # clean test subset per class (None: whole test set)
    eval_per_class: typing.Optional[int] = None  # attacked test subset per class (None: whole test set)
    #: seed of every data selection (training subset, validation split, test subsets); None: the config's seed.
    #: Seed replicates keep it fixed, so they differ only in initialisation, shuffling and flips.
    split_seed: typing.Optional[int] = None


@dataclass
class ModelConfig:
    arch: str = field(
        default="sew_resnet18",
        metadata=_choice(
            "sew_resnet18", "sew_resnet34", "sew_resnet50", "spiking_resnet18", "spiking_resnet34", "spiking_resnet50"
        ),
    )
    pool: str = field(default="max", metadata=_choice("max", "avg"))
    width: int = 64
    detach_reset: typing.Optional[bool] = None  # None: the authors' (True for SEW, False for Spiking-ResNet)
    neuron: str = field(default="if", metadata=_choice("if", "relu"))
    encoder: str = field(default="phase", metadata=_choice("phase", "rate", "direct", "frames"))
    T: int = 10
    K: int = 8
    weighted: bool = False  # omega(t) of the paper's text; the authors' code does not apply it


@dataclass
class AdversarialConfig:
    """Adversarial training of a defended baseline (Madry et al. 2018); ``none`` trains on clean images."""

    method: str = field(default="none", metadata=_choice("none", "fgsm-rs", "pgd"))
    eps: float = 8 / 255
    alpha: typing.Optional[float] = None  # None: 1.25 eps (fgsm-rs, Wong et al. 2020) or 2.5 eps / steps (pgd)
    steps: int = 7  # pgd only
    #: the phase encoder's backward while crafting: ``ste`` (straight-through), ``omega`` or ``flip`` (the
    #: expected-flip backward, the strongest for phase coding in the audit); see snnlib.encoding
    encoder_grad: str = field(default="ste", metadata=_choice("ste", "omega", "flip"))


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    betas: typing.List[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 1e-3  # the authors' code; the paper's text does not mention it
    flip: bool = True
    #: the checkpoint kept: best validation accuracy or loss, or best robust validation accuracy (PGD-10 on the
    #: first ``robust_val`` images of the validation split; early stopping after Rice et al. 2020)
    select: str = field(default="val_acc", metadata=_choice("val_acc", "val_loss", "robust_val_acc"))
    #: validation images attacked after every epoch (PGD-10, pixel space, BN eval, the adversarial eps); 0: none
    robust_val: int = 0
    #: treat denormal floats as zero while training (torch.set_flush_denormal): faster once BatchNorm scales decay
    #: into denormals; weights can differ from an unflushed run, so it is a setting of the run
    flush_denormals: bool = False
    amp: bool = False  # bf16 autocast on CUDA
    workers: int = 0
    pin_memory: bool = False
    eval_batch_size: int = 128
    #: snnlib.kernels: fused multi-step IF neurons (bit-identical) and GEMM weight gradients for convolutions
    #: on tiny maps (equal up to float rounding). False runs SpikingJelly's modules unchanged.
    fast: bool = True
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    #: CPU threads while training (None: torch's default). CPU results depend on the thread count (oneDNN),
    #: so a run that must be reproducible on any machine fixes it.
    threads: typing.Optional[int] = None


@dataclass
class AttackConfig:
    eps: float = 8 / 255
    pgd_alpha: float = 0.01
    pgd_steps: int = 7
    random_start: bool = True
    space: str = field(default="pixel", metadata=_choice("pixel", "spike"))
    bn: str = field(default="eval", metadata=_choice("eval", "train"))
    eps_sweep: typing.List[float] = field(default_factory=lambda: [2 / 255, 4 / 255, 6 / 255, 8 / 255])
    batch_size: int = 64
    #: which images share a crafting batch: the dataset's order, or a seeded shuffle that depends on the images
    #: only (snnlib.attacks.registry.batch_indices). Under ``bn="train"`` batch statistics depend on it, and under
    #: either BN mode PGD's random starts do, so it and ``batch_size`` are part of the result's key (except the
    #: default batching under BN eval, for the old keys); the authors' threat uses ``shuffled`` batches of 16.
    batch_order: str = field(default="dataset", metadata=_choice("dataset", "shuffled"))
    #: the seed of the ``shuffled`` batches; None: the run's seed. Other seeds draw other batches of the same images
    #: (the draw spread of :func:`snnlib.experiments.authors_draws`)
    order_seed: typing.Optional[int] = None
    #: the seed of PGD's random starts; None: the run's seed (the control of the draw spread: same batches, other starts)
    start_seed: typing.Optional[int] = None


@dataclass
class Config:
    name: str = "experiment"
    profile: str = field(default="custom", metadata=_choice("quick", "medium", "paper", "custom"))
    seed: int = 3407
    notes: str = ""
    #: extra training seeds of the same model (same data selection): see :func:`replicates`
    replicates: typing.List[int] = field(default_factory=list)
    #: what the model is for: a row of the paper's tables, a control of the audit, or a defended baseline
    role: str = field(default="paper", metadata=_choice("paper", "control", "defended"))
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def train_key(self) -> str:
        """Hash of everything that changes the trained weights (not the name, notes or attack)."""
        d = _strip_late(self.to_dict())
        for k in ("name", "notes", "attack", "profile", "replicates", "role"):
            d.pop(k, None)
        d["data"].pop("test_per_class"), d["data"].pop("eval_per_class")
        for k in ("workers", "pin_memory", "eval_batch_size"):
            d["train"].pop(k)
        return content_hash(d)

    def eval_key(self) -> str:
        """Hash of the trained model plus everything that changes the attack numbers."""
        d = _strip_late(self.to_dict())
        a = dict(d["attack"])
        if a["bn"] != "train" and "batch_order" not in a and a["batch_size"] == AttackConfig.batch_size:
            # with BN in eval mode a prediction does not depend on its batch, but PGD's random starts do (one
            # generator drawn batch by batch): only the default batching (the one every BN-eval result so far
            # was computed with, in the dataset's order) is left out of the key, which keeps their keys
            a.pop("batch_size"), a.pop("order_seed", None)
        return content_hash(
            {
                "train": self.train_key(),
                "attack": a,
                "test": d["data"]["test_per_class"],
                "eval": d["data"]["eval_per_class"],
            }
        )

    @property
    def run_id(self) -> str:
        return f"{self.name}-{self.train_key()[:8]}"

    @property
    def split_seed(self) -> int:
        """The seed of every data selection (``data.split_seed``, else ``seed``)."""
        return self.seed if self.data.split_seed is None else self.data.split_seed


#: Settings added after the first results were keyed: left out of ``train_key``/``eval_key`` while
#: they hold the value the old results were computed with, so a new setting never invalidates a finished
#: result. ``data.pixels`` is the exception that proves it: the results before it were computed on the
#: JPEG copy, so ``jpeg`` keeps their keys and the new default ``lossless`` gives new ones.
LATE_FIELDS = {
    ("data", "split_seed"): None,
    ("data", "pixels"): "jpeg",
    ("replicates",): [],
    ("role",): "paper",
    ("train", "adversarial", "encoder_grad"): "ste",
    ("train", "adversarial"): {"method": "none", "eps": 8 / 255, "alpha": None, "steps": 7},
    ("train", "threads"): None,
    ("train", "robust_val"): 0,
    ("train", "flush_denormals"): False,
    ("attack", "batch_order"): "dataset",
    ("attack", "order_seed"): None,
    ("attack", "start_seed"): None,
}


def _strip_late(d: dict) -> dict:
    for path, default in LATE_FIELDS.items():
        node = d
        for k in path[:-1]:
            node = node.get(k, {})
        if path[-1] in node and node[path[-1]] == default:
            node.pop(path[-1], None)
    return d


def content_hash(d) -> str:
    """SHA-1 of a JSON-able object with sorted keys: the key of cached results."""
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------ validation
