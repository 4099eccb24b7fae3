"""Content-addressed outputs (DataVersion = SHA-256 of the canonical frame) and metadata helpers."""


import warnings

import dagster as dg
import polars as pl

from carbon_assets.engine import lineage


def versioned(df: pl.DataFrame, output_name: str = "result", **metadata) -> dg.Output:
    content = lineage.frame_sha256(df)
    with warnings.catch_warnings():  # data_version is marked beta; it is the point of this helper
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(df, output_name=output_name, data_version=dg.DataVersion(content),
                         metadata={"content_sha256": content, "row_count": df.height, **metadata})


def markdown_table(df: pl.DataFrame, n: int = 20) -> dg.MetadataValue:
    if df.height == 0:
        return dg.MetadataValue.md("_(no rows)_")
    head = df.head(n)

    def fmt(v) -> str:
        return f"{v:,.3f}" if isinstance(v, float) else ("" if v is None else str(v).replace("|", "\\|"))

    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * head.width]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in head.rows()]
    if df.height > n:
        lines.append(f"\n_{df.height - n} more rows_")
    return dg.MetadataValue.md("\n".join(lines))
