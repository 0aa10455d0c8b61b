"""The one-time reader of suite results written before attack records had ids (:mod:`.records`): rows named only by
their display label, ``per_sample`` keyed by label, booleans that were implied by a name. The committed medium
audits are of that shape; :func:`upgrade` gives them ids on loading, so the files keep their content (and their
cache keys) while the code reads ids only. This is the only module that parses a label.
"""

from __future__ import annotations

import re

from . import records as R

_FIXED = {
    "clean": R.CLEAN,
    "FGSM": R.FGSM,
    "PGD-7 (paper)": R.PGD7,
    "worst case": R.WORST,
    "APGD-CE": R.APGD_CE,
    "APGD-DLR": R.APGD_DLR,
    "AutoAttack (standard)": R.AUTOATTACK,
    "random noise": R.NOISE,
    "transfer: ANN twin": R.TRANSFER["ann"],
    "transfer: other SNN": R.TRANSFER["snn"],
    "transfer: rate-coded twin": R.TRANSFER["rate"],
}
#: (pattern, id, the field its number fills)
_PATTERNS = (
    (r"PGD-(\d+) x(\d+)", None, None),  # ladder with restarts: both numbers
    (r"PGD-(\d+)", None, "steps"),  # a ladder rung (and l2's PGD-7 entry of the ladder)
    (r"PGD-(\d+) \(sweep step\)", R.SWEEP_STEP, "steps"),
    (r"PGD-(\d+) \[(.+)\]", None, "steps"),  # an estimator
    (r"SA-PGD-(\d+)", R.SAPGD, "steps"),
    (r"ASSG \+ SA-PGD-(\d+)", R.ASSG, "steps"),
    (r"spike-projected PGD-(\d+)", R.SPIKE_PGD, "steps"),
    (r"level search-(\d+)", R.LEVEL_SEARCH, "steps"),
    (r"Square-(\d+)", R.SQUARE, "queries"),
    (r"SPSA-(\d+)", R.SPSA, "steps"),
    (r"EOT-PGD-7 \((\d+) draws\)", R.EOT_PGD, None),
    (r"EOT-APGD-CE \((\d+) draws\)", R.EOT_APGD, None),
    (r"sweep eps=(.+)", None, None),
    (r"switch (\w+)/(\w+) (FGSM|PGD-7)", None, None),
    (r"authors (\w+)", None, None),
)


def legacy_id(label: str) -> tuple[str, dict]:
    """The id of an old label, and the fields its label implied (steps, restarts, queries, estimator)."""
    if label in _FIXED:
        return _FIXED[label], {"steps": 7} if label == "PGD-7 (paper)" else {}
    for pattern, rid, what in _PATTERNS:
        m = re.fullmatch(pattern, label)
        if m is None:
            continue
        g = m.groups()
        if pattern.startswith("PGD-(\\d+) x"):
            return R.ladder(int(g[0]), int(g[1])), {"steps": int(g[0]), "restarts": int(g[1])}
        if pattern == r"PGD-(\d+)":
            return R.ladder(int(g[0])), {"steps": int(g[0]), "restarts": 1}
        if "\\[" in pattern:
            return R.estimator(g[1]), {"steps": int(g[0]), "estimator": g[1]}
        if pattern.startswith("sweep"):
            return R.sweep(float(g[0])), {}
        if pattern.startswith("switch"):
            return R.switch(g[0], g[1], R.FGSM if g[2] == "FGSM" else R.PGD7), {}
        if pattern.startswith("authors"):
            return R.authors(g[0]), {}
        return rid, ({what: int(g[0])} if what else {})
    raise ValueError(f"an audit result names an attack this reader does not know: {label!r}")


def upgrade(result: dict) -> dict:
    """Give an old-shape result (rows without ``id``) ids in place: rows gain ``id`` and the fields their labels
    implied, ``per_sample`` (and a partial run's ``robust``) is re-keyed by id. A new-shape result is returned as
    it is."""
    rows = result.get("attacks", [])
    if all("id" in a for a in rows):
        return result
    for a in rows:
        rid, implied = legacy_id(a["attack"])
        a["id"] = rid
        for k, v in implied.items():
            a.setdefault(k, v)
        a.setdefault("contains_black_box", rid == R.AUTOATTACK)
        a.setdefault("stronger_loss", rid == R.APGD_DLR)  # as the old reader decided by name
    for key in ("per_sample", "robust"):
        if key in result:
            result[key] = {legacy_id(k)[0]: v for k, v in result[key].items()}
    return result
