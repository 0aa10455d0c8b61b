"""The authors' pipeline (github.com/luutn2002/grad-obf-snn), re-implemented once, from its description.

Not their code: the steps their code takes, in the same order, on SpikingJelly 2.0 objects.

- **Encoder loop** (:class:`AuthorsEncoder`, :func:`authors_spikes`): SpikingJelly's stateful
  ``WeightedPhaseEncoder(K=8)`` called T times on ``pixels / 256`` and stacked.
- **Model and training step** (:class:`AuthorsModel`, :func:`train_step`): ``snn(x).mean(0)``;
  ``zero_grad, backward, step, reset_net``.
- **Attacks** (:func:`fgsm`, :func:`pgd`): on the encoded spikes, with ``loss.backward(retain_graph=True)``
  (every weight gradient is computed too), ``reset_net`` after every forward, eps 6/255 by default
  (their ``adv_test_step`` never passes eps), a uniform random start from the global generator and
  an abort when the gradient's norm falls below 1e-6.
- **Evaluation** (:func:`eval_step`): their test step (clean, eval mode), then ``adv_test_step``:
  encode once, ``model.train()``, FGSM and PGD-7, ``model.eval()``, predict.
- **The BN-leaking loop** (:func:`authors_loop`): ``adv_test_step`` over a whole test set on a
  :class:`~snnlib.models.SpikingClassifier`, with snnlib's attacks under the authors' threat model,
  predicting every input with the leaked and with the original BN statistics.
- **Their sparsity probe** (:func:`probe`): full backward hooks on leaf modules during the FGSM step.
"""

from __future__ import annotations

import copy

import torch
from spikingjelly.activation_based import encoding as sj_encoding
from spikingjelly.activation_based import functional
from torch import nn
from tqdm import tqdm

from .attacks import AUTHORS_EPS, FGSM, PGD, ThreatModel, batch_indices
from .errors import SnnlibError

PGD_ALPHA, PGD_STEPS = 0.01, 7


class AuthorsEncoder:
    """SpikingJelly's stateful ``WeightedPhaseEncoder(K=8)`` called T times on ``pixels / 256``, stacked."""

    def __init__(self, T: int = 10, K: int = 8):
        self.T, self.enc = T, sj_encoding.WeightedPhaseEncoder(K=K)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels / 256.0).clone().detach()
        return torch.stack([self.enc(x) for _ in range(self.T)])

    def reset(self):
        self.enc.reset()


def authors_spikes(x: torch.Tensor, T: int = 10) -> torch.Tensor:
    """The spikes the authors' code feeds its network for images ``x`` in [0, 1] (8-bit values)."""
    return AuthorsEncoder(T)(torch.round(x * 255))


class AuthorsModel(nn.Module):
    """The multi-step network wrapped as ``snn(x).mean(0)``."""

    def __init__(self, snn: nn.Module):
        super().__init__()
        self.snn = snn

    def forward(self, x):
        return self.snn(x).mean(0)


def train_step(model, encoder, optimizer, loss_fn, pixels, y):
    model.train()
    spikes = encoder(pixels)
    pred = model(spikes)
    loss = loss_fn(pred, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    functional.reset_net(model.snn)
    encoder.reset()
    return {"logits": pred.detach(), "loss": loss.detach()}


def fgsm(loss_fn, model, spikes, y, eps=AUTHORS_EPS):
    images, labels = spikes.clone().detach(), y.clone().detach()
    images.requires_grad = True
    loss = loss_fn(model(images), labels)
    loss.backward(retain_graph=True)
    adv = torch.clamp(images + eps * images.grad.sign(), 0, 1)
    model.zero_grad()
    functional.reset_net(model.snn)
    return adv


def pgd(loss_fn, model, spikes, y, eps=AUTHORS_EPS, alpha=PGD_ALPHA, steps=PGD_STEPS):
    ori, labels = spikes.clone().detach(), y.clone().detach()
    images = torch.clamp(ori + torch.empty_like(ori).uniform_(-eps, eps), 0, 1)
    for _ in range(steps):
        images.requires_grad = True
        loss = loss_fn(model(images), labels)
        loss.backward(retain_graph=True)
        grad = images.grad
        if torch.isnan(grad).any().item() or torch.isinf(grad).any().item() or grad.norm().item() < 1e-6:
            raise SnnlibError("authors' PGD: abnormal gradient norm")
        eta = torch.clamp(images + alpha * grad.sign() - ori, min=-eps, max=eps)
        images = torch.clamp(ori + eta, 0, 1).detach_()
        model.zero_grad()
        functional.reset_net(model.snn)
    return images


def eval_step(model, encoder, loss_fn, pixels, y, eps=AUTHORS_EPS, alpha=PGD_ALPHA, steps=PGD_STEPS):
    """Their test step (clean, eval mode), then ``adv_test_step``: FGSM and PGD crafted in train mode,
    predicted in eval mode. Returns logits and adversarial inputs."""
    model.eval()
    with torch.no_grad():
        clean = model(encoder(pixels))
        functional.reset_net(model.snn)
        encoder.reset()
        loss_fn(clean, y).item()
    spikes = encoder(pixels)
    encoder.reset()
    model.train()
    fgsm_adv = fgsm(loss_fn, model, spikes, y, eps)
    pgd_adv = pgd(loss_fn, model, spikes, y, eps, alpha, steps)
    model.eval()
    with torch.no_grad():
        fgsm_logits = model(fgsm_adv)
        functional.reset_net(model.snn)
        pgd_logits = model(pgd_adv)
        functional.reset_net(model.snn)
        loss_fn(fgsm_logits, y).item(), loss_fn(pgd_logits, y).item()
    return {"clean": clean, "fgsm_adv": fgsm_adv, "pgd_adv": pgd_adv, "fgsm": fgsm_logits, "pgd": pgd_logits}


# ------------------------------------------------------------------ the BN-leaking loop


def bn_buffers(model) -> dict:
    return {n: b.detach().clone() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))}


def _loop_batch(work, ref, threat, xb, yb, eps, alpha, steps, generator):
    """One batch of ``adv_test_step``: correctness with the leaked (work) and the original (ref) statistics."""
    z0 = threat.inputs(xb)
    adv = {
        "clean": z0,
        "fgsm": FGSM(threat, eps)(xb, yb),  # each train-mode forward moves BN's statistics
        "pgd": PGD(threat, eps, alpha, steps, generator=generator)(xb, yb),
    }
    work.eval()
    out = {}
    with torch.no_grad():
        for name, inp in adv.items():
            out[f"{name}_leak"] = (work.forward_spikes(inp).argmax(1) == yb).cpu()
            out[name] = (ref.forward_spikes(inp).argmax(1) == yb).cpu()
    return out


def authors_loop(
    model,
    x,
    y,
    eps: float = AUTHORS_EPS,
    alpha: float = PGD_ALPHA,
    steps: int = PGD_STEPS,
    batch_size: int = 16,
    generator: torch.Generator | None = None,
    inplace: bool = False,
    shuffle: bool = True,
    order_seed: int | None = None,
) -> dict:
    """The authors' ``adv_test_step`` over a test set, with and without its BN leak.

    Per batch (shuffled, as their test loader): encode; FGSM and PGD (random start, ``steps``
    signed steps of ``alpha``) on the spike tensor with BN in train mode and the running statistics
    *not* restored; predict in eval mode. Every crafting forward moves the BN running statistics
    towards the test batch (momentum 0.1), and the leak carries over to every later batch. Crafting
    uses batch statistics, so the adversarial inputs are the same with or without the leak; each is
    predicted twice: with the leaked statistics (``*_leak``) and with the model's own. ``clean_leak``
    is the batch's clean accuracy measured in the loop after crafting; ``clean_after`` the whole
    set's clean accuracy after the loop. Works on a copy unless ``inplace``. Every sample counts.

    The batches are the threat registry's (:func:`snnlib.attacks.batch_indices`): a seeded shuffle that depends
    on the images only (``order_seed``, else a draw from ``generator``), so this loop and
    :func:`snnlib.evaluation.evaluate_model` under the authors' threat craft on the same batches.
    """
    work = model if inplace else copy.deepcopy(model)
    ref = copy.deepcopy(model).eval()
    before = bn_buffers(work)
    threat = ThreatModel(work, "spike", "train", restore_bn=False)
    if order_seed is None:
        order_seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    batches = batch_indices(x, y, batch_size, "shuffled" if shuffle else "dataset", order_seed)
    keys = ("clean", "fgsm", "pgd", "clean_leak", "fgsm_leak", "pgd_leak")
    out = {k: torch.zeros(len(y), dtype=torch.bool) for k in keys}
    was = work.training
    try:
        for b in tqdm(batches, desc="authors' loop", disable=None, leave=False):
            part = _loop_batch(work, ref, threat, x[b.to(x.device)], y[b.to(y.device)], eps, alpha, steps, generator)
            for k, v in part.items():
                out[k][b] = v
        with torch.no_grad():
            after = torch.cat([(work(x[j : j + 128]).argmax(1) == y[j : j + 128]).cpu() for j in range(0, len(y), 128)])
    finally:
        work.train(was)
    drift = {
        n: float(((b - before[n]).norm() / before[n].norm().clamp_min(1e-12)).item())
        for n, b in bn_buffers(work).items()
    }
    return {**out, "clean_after": after, "bn_drift": drift, "eps": eps, "batch_size": batch_size}


# ------------------------------------------------------------------ their sparsity probe


def _zero_frac(t, tol=0.0):
    return float((t.abs() <= tol).float().mean()) if t is not None and t.numel() else float("nan")


def _probe_hooks(net, rows, tols):
    """Full backward hooks as their ``register_hooks``: every leaf module (conv, BN, pools, linear), plus each IF
    neuron split per time step (in SpikingJelly 2.0 the surrogate module's own hooks never fire; its gradients
    are the neuron's output gradient per step, times a surrogate derivative that is never zero)."""
    from spikingjelly.activation_based.neuron import BaseNode

    handles = []
    for name, m in net.named_modules():
        leaf = len(list(m.children())) == 0 and not isinstance(m, BaseNode)
        if not (leaf or isinstance(m, BaseNode)):
            continue

        is_neuron = isinstance(m, BaseNode)

        def hook(mod, g_in, g_out, name=name, neuron=is_neuron):
            gi, go = (g_in[0] if g_in else None), (g_out[0] if g_out else None)
            steps = range(go.shape[0]) if neuron else [None]
            for t in steps:
                a, b = (go[t], go[t]) if neuron else (gi, go)  # an ATan row: its input and output share zeros
                rows.append(
                    {
                        "module": name,
                        "type": "IF neuron (ATan)" if neuron else type(mod).__name__,
                        "t": t,
                        **{f"zero_in{k}": _zero_frac(a, tol) for k, tol in tols.items()},
                        **{f"zero_out{k}": _zero_frac(b, tol) for k, tol in tols.items()},
                    }
                )

        handles.append(m.register_full_backward_hook(hook))
    return handles


def probe(model, x, y, eps: float = AUTHORS_EPS, tols=None) -> list[dict]:
    """Their probe during their FGSM step: spikes as input, BN in train mode, mean cross-entropy, one batch.
    One row per hook call with the zero fractions of ``grad_input[0]`` and ``grad_output[0]`` (exact zeros,
    and below each tolerance in ``tols``). Works on a copy; the model is not changed."""
    tols = {"": 0.0, **(tols or {"@1e-8": 1e-8, "@1e-6": 1e-6})}
    work = copy.deepcopy(model)
    from .kernels import decelerate

    decelerate(work.net)
    am, rows = AuthorsModel(work.net), []
    spikes = work.encode(x).detach()
    handles = _probe_hooks(work.net, rows, tols)
    try:
        am.train()
        fgsm(torch.nn.CrossEntropyLoss(), am, spikes, y, eps)
    finally:
        for h in handles:
            h.remove()
    return rows
