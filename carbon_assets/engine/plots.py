"""PNG charts for asset metadata (histogram of a Monte-Carlo total, tornado of the inputs), matplotlib Agg.

Pure functions returning PNG bytes or a markdown image (data URI), so Dagster metadata can embed them.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import polars as pl


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def histogram_png(samples: np.ndarray, deterministic: float, title: str, bins: int = 60,
                  interval: tuple[float, float] | None = None, bc_interval: tuple[float, float] | None = None) -> bytes:
    """Histogram of ``samples`` (kgCO2e shown in tCO2e) with the deterministic value, the MC 95% interval
    and (when given) the Bilan Carbone analytic interval marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.hist(np.asarray(samples) / 1000.0, bins=bins, color="#4c78a8", alpha=0.85)
    ax.axvline(deterministic / 1000.0, color="black", lw=1.5, label="deterministic")
    if interval is not None:
        for i, v in enumerate(interval):
            ax.axvline(v / 1000.0, color="#e45756", ls="--", lw=1, label="MC 95% interval" if i == 0 else None)
    if bc_interval is not None and all(np.isfinite(bc_interval)):
        for i, v in enumerate(bc_interval):
            ax.axvline(v / 1000.0, color="#54a24b", ls=":", lw=1.2, label="Bilan Carbone interval" if i == 0 else None)
    ax.set_xlabel("tCO2e")
    ax.set_ylabel("samples")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _png(fig)


def tornado_png(rows: pl.DataFrame, title: str) -> bytes:
    """Tornado chart: one bar per input (rows: input, low_kgco2e, high_kgco2e, mean_kgco2e), largest swing on top."""
    plt = _pyplot()
    rows = rows.with_columns((pl.col("high_kgco2e") - pl.col("low_kgco2e")).abs().alias("_w")).sort("_w")
    n = max(rows.height, 1)
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * n + 1.2))
    mean = rows["mean_kgco2e"][0] / 1000.0 if rows.height else 0.0
    y = np.arange(rows.height)
    lo = rows["low_kgco2e"].to_numpy() / 1000.0
    hi = rows["high_kgco2e"].to_numpy() / 1000.0
    ax.barh(y, lo - mean, left=mean, color="#4c78a8", label="input at its 2.5th percentile")
    ax.barh(y, hi - mean, left=mean, color="#e45756", label="input at its 97.5th percentile")
    ax.axvline(mean, color="black", lw=1)
    ax.set_yticks(y, [s if len(s) <= 48 else s[:45] + "..." for s in rows["input"].to_list()], fontsize=7)
    ax.set_xlabel("expected total, tCO2e")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)
