"""The rows expected after the March energy invoice is replaced by its corrected version (the correction
fixture shared by the engine test of replaces.yaml and the sensor-to-lake test of corrections)."""

import polars as pl

KEPT = ("eau.csv", "energie_mars_2024_rectifie.csv")


def assert_corrected_rows(raw: pl.DataFrame, acts: pl.DataFrame, rej: pl.DataFrame) -> None:
    """The replaced file's rows are gone, the replacing file's are there, and per file accepted + rejected =
    rows read."""
    assert sorted(raw["source_file"].unique()) == list(KEPT)
    assert sorted(acts.select("source_file", "quantity").rows()) == [
        ("eau.csv", 3.0), ("energie_mars_2024_rectifie.csv", 20.0), ("energie_mars_2024_rectifie.csv", 450.0)]
    # the old file's reject ("x") is gone with its rows; the water file's out-of-year row remains
    assert rej.select("source_file", "row", "column", "value").rows() == [("eau.csv", 3, "date", "2023-05-31")]
    for name in KEPT:
        read = raw.filter(pl.col("source_file") == name).height
        assert read == 2
        assert (acts.filter(pl.col("source_file") == name).height
                + rej.filter(pl.col("source_file") == name).height) == read
