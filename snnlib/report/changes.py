"""Verdicts before and after a change of the models behind them: a committed snapshot of a profile's claims table
(``results/<profile>/claims-<tag>.csv``, written by :func:`snapshot` before the change) against the claims as the
results now stand (:func:`changed`). The medium profile keeps the snapshot of its JPEG-trained models
(``jpeg``), taken before its SEW-18 configs named the lossless retraining (the lossless-data issue)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import places
from ..errors import SnnlibError

#: the columns a snapshot keeps
COLUMNS = ["claim", "verdict", "by version", "ours", "data"]


def snapshot_path(profile: str, tag: str) -> Path:
    return places.results_dir(profile) / f"claims-{tag}.csv"


def snapshot(profile: str, tag: str, claims: pd.DataFrame | None = None) -> Path:
    """Write the profile's claims table (:func:`snnlib.report.claims`, or ``claims``) as the snapshot ``tag``."""
    if claims is None:
        from .verdicts import claims as claims_of

        claims = claims_of(profile)
    path = snapshot_path(profile, tag)
    path.parent.mkdir(parents=True, exist_ok=True)
    claims.reindex(columns=COLUMNS).to_csv(path, index=False)
    return path


def changed(profile: str, tag: str, claims: pd.DataFrame) -> pd.DataFrame:
    """Each claim whose verdict (under any rule version) or data differ between the snapshot ``tag`` and ``claims``:
    the verdicts and evidence before and after. A claim in only one of the two is listed with a dash."""
    path = snapshot_path(profile, tag)
    if not path.exists():
        raise SnnlibError(f"no snapshot {path.name} of the {profile} claims; write it with report.changes.snapshot")
    old = pd.read_csv(path).fillna("-").set_index("claim")
    new = claims.reindex(columns=COLUMNS).fillna("-").astype(str).set_index("claim")
    rows = []
    for claim in list(old.index) + [c for c in new.index if c not in old.index]:
        a = old.loc[claim] if claim in old.index else None
        b = new.loc[claim] if claim in new.index else None
        same = a is not None and b is not None and all(a[k] == b[k] for k in ("verdict", "by version", "data"))
        if not same:
            rows.append(
                {
                    "claim": claim,
                    f"verdict ({tag})": "-"
                    if a is None
                    else a["by version"]
                    if a["by version"] != "-"
                    else a["verdict"],
                    "verdict now": "-" if b is None else b["by version"] if b["by version"] != "-" else b["verdict"],
                    "data now": "-" if b is None else b["data"],
                    f"evidence ({tag})": "-" if a is None else a["ours"],
                    "evidence now": "-" if b is None else b["ours"],
                }
            )
    return pd.DataFrame(rows)
