"""Equality checks of the benchmark: snnlib's path must give the authors' numbers."""

from __future__ import annotations

import torch

LOGIT_TOL = 1e-5  # max |logit difference| allowed between the two paths
#: max weight-gradient difference relative to the tensor's largest entry. GEMM weight gradients sum in another
#: order; behind a train-mode BatchNorm the per-channel gradients cancel, so rounding shows up to ~1e-5 there.
GRAD_TOL = 1e-4


def ratio(a, b):
    return a / b if a is not None and b is not None and a > 0 and b > 0 else None


def maxdiff(a, b) -> float:
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0


def check_train(ref: dict, out: dict) -> dict:
    """A training step against the authors': logits, loss, weight gradients, weights after the step."""
    rel = 0.0
    for a, b in zip(ref["grads"], out["grads"]):
        if a is not None and b is not None:
            rel = max(rel, maxdiff(a, b) / max(float(a.abs().max()), 1e-30))
    return {
        "logits_maxdiff": maxdiff(ref["logits"], out["logits"]),
        "loss_diff": maxdiff(ref["loss"], out["loss"]),
        "grads_bitwise_equal": all(torch.equal(a, b) for a, b in zip(ref["grads"], out["grads"])),
        "grads_max_rel_diff": rel,
        "params_after_step_maxdiff": max(maxdiff(a, b) for a, b in zip(ref["params"], out["params"])),
    }


def check_eval(ref: dict, out: dict, y) -> dict:
    """An evaluation against the authors': clean, FGSM and PGD logits, adversarial inputs, predictions."""
    r = {"clean_logits_maxdiff": maxdiff(ref["clean"], out["clean"])}
    for a in ("fgsm", "pgd"):
        r[f"{a}_adv_maxdiff"] = maxdiff(ref[f"{a}_adv"], out[f"{a}_adv"])
        r[f"{a}_adv_elements_differing"] = int((ref[f"{a}_adv"] != out[f"{a}_adv"]).sum())
        r[f"{a}_logits_maxdiff"] = maxdiff(ref[a], out[a])
        r[f"{a}_predictions_differing"] = int((ref[a].argmax(1) != out[a].argmax(1)).sum())
        r[f"{a}_acc"] = float((out[a].argmax(1) == y).float().mean())
    r["clean_acc"] = float((out["clean"].argmax(1) == y).float().mean())
    return r


def passed(kind: str, chk: dict, device) -> bool:
    if kind == "train":
        return chk["logits_maxdiff"] <= LOGIT_TOL and chk["grads_max_rel_diff"] <= GRAD_TOL
    ok = all(chk[k] <= LOGIT_TOL for k in ("clean_logits_maxdiff", "fgsm_logits_maxdiff", "pgd_logits_maxdiff"))
    ok &= chk["fgsm_adv_elements_differing"] == 0 and chk["fgsm_predictions_differing"] == 0
    if device.type == "cpu":  # on CUDA the authors' PGD start comes from the CUDA generator, snnlib's from a CPU one
        ok &= chk["pgd_adv_elements_differing"] == 0 and chk["pgd_predictions_differing"] == 0
    return bool(ok)
