"""The factor-load benchmark runs over the shipped samples and reports what each mapping keeps."""

import io

from carbon_assets import bench_factors, cli


def test_bench_factors_over_the_shipped_samples(data_dir):
    out = io.StringIO()
    rows = bench_factors.run(data_dir / "mappings", data_dir / "factors", repeat=1, out=out)
    found = {(r.mapping, r.file): (r.factors, r.skipped) for r in rows}
    # every sample file, through the mapping whose wildcard or literal path finds it; the XLSX / full-file
    # mappings find nothing here (their official files are not shipped)
    assert found == {
        ("ademe_base_carbone.yaml", "base_carbone_sample.csv"): (9, 0),
        ("custom_csv.yaml", "client_factors.csv"): (4, 0),
        ("desnz_flat_2024.yaml", "desnz_2024_flat_sample.xlsx"): (11, 0),
        ("epa_ghg_hub_2025.yaml", "ghg-emission-factors-hub-2025_sample.xlsx"): (22, 1),
        ("useeio_v1_2.yaml", "useeio_v1_2_sample.csv"): (10, 0),
    }
    assert all(r.load_s > 0 and r.bare_s > 0 for r in rows)
    assert "ghg-emission-factors-hub-2025_sample.xlsx" in out.getvalue()


def test_bench_factors_cli_refuses_a_missing_folder(tmp_path, capsys):
    assert cli.main(["bench-factors", "--factors-dir", str(tmp_path / "nope")]) == cli.EXIT_INVALID
    assert "not found" in capsys.readouterr().err
