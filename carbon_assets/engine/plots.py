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
    return _histogram_marks(fig, ax, deterministic, title, interval, bc_interval)


def _histogram_marks(fig, ax, deterministic: float, title: str, interval: tuple[float, float] | None,
                     bc_interval: tuple[float, float] | None) -> bytes:
    """The deterministic value and the intervals drawn over a histogram of kgCO2e shown in tCO2e."""
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


def scope_bars_png(rows: pl.DataFrame, title: str) -> bytes:
    """Grouped bars: one group per scope, one bar per basis (location, market), in tCO2e, with the
    Monte-Carlo 90% interval as an error bar where known.

    rows: scope (String), basis ("location" / "market"), value_kgco2e, low_kgco2e, high_kgco2e (nullable).
    """
    plt = _pyplot()
    scopes = sorted(rows["scope"].unique().to_list())
    bases = [b for b in ("location", "market") if b in set(rows["basis"].to_list())]
    colors = {"location": "#4c78a8", "market": "#f58518"}
    width = 0.8 / max(len(bases), 1)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    x = np.arange(len(scopes))
    for i, basis in enumerate(bases):
        by_scope = {r["scope"]: r for r in rows.filter(pl.col("basis") == basis).iter_rows(named=True)}
        vals = np.array([by_scope[s]["value_kgco2e"] if s in by_scope else np.nan for s in scopes]) / 1000.0
        lo = np.array([_or_nan(by_scope.get(s, {}).get("low_kgco2e")) for s in scopes]) / 1000.0
        hi = np.array([_or_nan(by_scope.get(s, {}).get("high_kgco2e")) for s in scopes]) / 1000.0
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, np.nan_to_num(vals), width, color=colors[basis], label=f"{basis}-based")
        err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        ok = np.isfinite(err).all(axis=0) & np.isfinite(vals)
        if ok.any():  # the 90% interval around the deterministic value
            ax.errorbar(pos[ok], vals[ok], yerr=err[:, ok], fmt="none", ecolor="black", elinewidth=1, capsize=3)
    ax.set_xticks(x, [f"Scope {s}" for s in scopes])
    ax.set_ylabel("tCO2e")
    ax.set_title(title)
    if bases:
        ax.legend(fontsize=7)
    return _png(fig)


def _or_nan(v) -> float:
    return np.nan if v is None else float(v)


def sobol_bars_png(rows: pl.DataFrame, title: str) -> bytes:
    """Sobol tornado: one row per input (rows: input, s1, st), largest total index on top; the total
    index ST drawn behind the first-order index S1 (ST - S1 is the input's share in interactions)."""
    plt = _pyplot()
    rows = rows.sort(["st", "s1", "input"], descending=[False, False, True])
    n = max(rows.height, 1)
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * n + 1.2))
    y = np.arange(rows.height)
    ax.barh(y, rows["st"].to_numpy(), color="#9ecae9", label="total index ST")
    ax.barh(y, rows["s1"].to_numpy(), height=0.45, color="#4c78a8", label="first-order index S1")
    ax.set_yticks(y, [s if len(s) <= 48 else s[:45] + "..." for s in rows["input"].to_list()], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the variance of the total")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def histogram_counts_png(counts: np.ndarray, edges: np.ndarray, deterministic: float, title: str,
                         interval: tuple[float, float] | None = None) -> bytes:
    """``histogram_png`` from an already binned distribution (counts per bin, bin edges in kgCO2e)."""
    counts, edges = np.asarray(counts, dtype=np.float64), np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or counts.shape != (edges.size - 1,):
        raise ValueError(f"histogram: {counts.size} counts need {counts.size + 1} bin edges, got {edges.size}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.stairs(counts, edges / 1000.0, fill=True, color="#4c78a8", alpha=0.85)
    return _histogram_marks(fig, ax, deterministic, title, interval, None)
