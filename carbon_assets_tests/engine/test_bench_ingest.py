from carbon_assets import bench_ingest


def test_ingest_benchmark_runs_small_and_keeps_the_invariant(capsys):
    out = bench_ingest.run(rows=3000, repeat=1, bronze=True, keep=None)
    assert out["invariant_ok"] and out["accepted"] + out["rejected"] == 3001
    assert out["read"]["encoding"] == "cp1252" and out["read"]["delimiter"] == ";" and out["read"]["header_row"] == 4
    assert out["conventions"]["number"]["Quantité"] == "EU" and out["conventions"]["date_order"] == {"Date": "DMY"}
    assert out["top_rejects"]["total or subtotal row, not an activity line"] == 1
    assert out["ratio"] > 0 and out["bronze_path_s"] > 0
    assert bench_ingest.main(["--rows", "500", "--repeat", "1"]) == 0
    assert "target <= 3x" in capsys.readouterr().out
