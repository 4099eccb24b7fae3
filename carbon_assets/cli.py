"""`carbon-assets`: run the graph from the command line (demo, materialize, bench)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from carbon_assets import settings
from carbon_assets.engine.params import NAMESPACES, CalcParams, ParameterError

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _add_param_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default="WARNING", help="Dagster console log level (default WARNING)")
    g = p.add_argument_group("calculation parameters (default: CARBON_<NAME> env var, then built-in default)")
    g.add_argument("--github-repo-url")
    g.add_argument("--tenant-name")
    g.add_argument("--primary-fe-namespace", help=f"one of {', '.join(NAMESPACES)}")
    g.add_argument("--default-gwp", help="AR5 or AR6")
    g.add_argument("--compute-mode", help="local, cluster or serverless")
    g.add_argument("--fe-namespace-priority", help="comma-separated namespaces")
    g.add_argument("--mc-samples", type=int)
    g.add_argument("--mc-seed", type=int)


def _params(args: argparse.Namespace) -> CalcParams:
    prio = args.fe_namespace_priority
    return CalcParams.from_env(
        github_repo_url=args.github_repo_url, tenant_name=args.tenant_name,
        primary_fe_namespace=args.primary_fe_namespace, default_gwp=args.default_gwp,
        compute_mode=args.compute_mode, mc_samples=args.mc_samples, mc_seed=args.mc_seed,
        fe_namespace_priority=tuple(s.strip() for s in prio.split(",")) if prio else None,
    )


def _instance():
    """The persistent instance the UI reads: DAGSTER_HOME, default the project root (its dagster.yaml)."""
    import dagster as dg

    os.environ.setdefault("DAGSTER_HOME", str(settings.PROJECT_ROOT))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def _fmt_t(kg: float) -> str:
    return f"{kg / 1000:,.2f}"


def print_totals(rows: list[dict], out=sys.stdout) -> None:
    """Totals per tenant, year and scope in tCO2e with the 90% interval (p5-p95)."""
    head = f"{'tenant':<12} {'year':<5} {'scope':<6} {'tCO2e':>10} {'MC mean':>10} {'90% interval':>24}"
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in rows:
        interval = f"[{_fmt_t(r['p5_kgco2e'])} - {_fmt_t(r['p95_kgco2e'])}]"
        print(f"{r['tenant']:<12} {r['year']:<5} {r['scope']:<6} {_fmt_t(r['deterministic_kgco2e']):>10} "
              f"{_fmt_t(r['mean_kgco2e']):>10} {interval:>24}", file=out)


def cmd_demo(args: argparse.Namespace) -> int:
    import polars as pl

    from carbon_assets import runner
    from carbon_assets.definitions import defs
    from carbon_assets.engine import inbox

    params = _params(args)
    found, refused = inbox.scan(settings.data_dir() / "inbox")
    for r in refused:
        print(f"inbox: refused {r.path}: {r.reason}", file=sys.stderr)
    slices = sorted({(f.tenant, f.year) for f in found})
    if not slices:
        print(f"no activity files under {settings.data_dir() / 'inbox'}", file=sys.stderr)
        return EXIT_INVALID
    d, instance = defs(), _instance()
    print(f"lake: {settings.lake_uri()}   dagster home: {os.environ['DAGSTER_HOME']}")
    print("materializing factor namespaces and the factor snapshot ...")
    runner.materialize_factors(d, instance, log_level=args.log_level)
    for tenant, year in slices:
        print(f"materializing {tenant}|{year} ...")
        runner.materialize_tenant_year(d, instance, tenant, year, params, log_level=args.log_level)
    report = pl.read_delta(f"{settings.lake_uri()}/inventory_report")
    rows = (report.filter(pl.col("category").is_in(["all", "total"]))
            .filter(pl.struct("tenant", "year").is_in([{"tenant": t, "year": y} for t, y in slices]))
            .sort("tenant", "year", "scope").to_dicts())
    print()
    print_totals(rows)
    print()
    print(f"Delta tables:  {settings.lake_uri()}/<asset>  (e.g. inventory_report, emissions, activity_rejects)")
    print(f"Exports:       {settings.exports_dir()}/<tenant>/<year>/  (bilan.json, strategy.json, esg.json, "
          "inventory.json, report.html, provenance.json)")
    print("Report views:  carbon-assets sql   (DuckDB views over the lake, e.g. inventory_by_poste)")
    for t, y in slices:  # the current calculation of each tenant-year (earlier ones stay replayable too)
        sig = report.filter((pl.col("tenant") == t) & (pl.col("year") == y))["signature"][0]
        print(f"Replay {t} {y}:  carbon-assets replay --signature {sig}")
    print(f"Dagster UI:    DAGSTER_HOME={os.environ['DAGSTER_HOME']} dagster dev -w workspace.yaml  "
          "(then open http://127.0.0.1:3000)")
    return EXIT_OK


def cmd_materialize(args: argparse.Namespace) -> int:
    from carbon_assets import runner
    from carbon_assets.definitions import defs

    params = _params(args)
    d, instance = defs(), _instance()
    if args.factors:
        runner.materialize_factors(d, instance, log_level=args.log_level)
    result = runner.materialize_tenant_year(d, instance, args.tenant, str(args.year), params, raise_on_error=False,
                                            log_level=args.log_level)
    print(f"{args.tenant}|{args.year}: {'success' if result.success else 'FAILED'} (run {result.run_id})")
    return EXIT_OK if result.success else EXIT_FAILED


def cmd_bench(args: argparse.Namespace) -> int:
    from carbon_assets import bench

    bench.run(quick=args.quick, only=args.only)
    return EXIT_OK  # timings never fail anything; errors raise


def cmd_bench_factors(args: argparse.Namespace) -> int:
    from carbon_assets import bench_factors

    factors_dir = Path(args.factors_dir) if args.factors_dir else settings.data_dir() / "factors"
    if not factors_dir.is_dir():
        print(f"carbon-assets: factors directory {factors_dir} not found", file=sys.stderr)
        return EXIT_INVALID
    bench_factors.run(settings.data_dir() / "mappings", factors_dir, repeat=args.repeat)
    return EXIT_OK


def cmd_bench_backfill(args: argparse.Namespace) -> int:
    from carbon_assets import bench_backfill

    res = bench_backfill.main(args.tenants, [str(y) for y in args.years], timeout_s=args.timeout,
                              executor=args.executor)
    return EXIT_OK if res.status == "COMPLETED_SUCCESS" or res.status == "COMPLETED" else EXIT_FAILED


def cmd_sql(args: argparse.Namespace) -> int:
    from carbon_assets.engine import duckdb_views

    lake = args.lake or settings.lake_uri()
    con = duckdb_views.connect(lake, settings.lake_storage_options(lake))
    if not args.query:
        for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall():
            print(name)
        return EXIT_OK
    import duckdb

    try:
        rel = con.sql(args.query)
    except duckdb.Error as exc:  # a user's query: say what is wrong, no traceback
        print(f"carbon-assets sql: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if rel is not None:
        rel.show(max_rows=args.max_rows, max_width=200)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carbon-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize every sample tenant-year in the inbox and print totals")
    _add_param_flags(demo)
    demo.set_defaults(func=cmd_demo)
    mat = sub.add_parser("materialize", help="materialize one tenant-year")
    mat.add_argument("--tenant", required=True)
    mat.add_argument("--year", required=True)
    mat.add_argument("--factors", action="store_true", help="refresh factor namespaces and snapshot first")
    _add_param_flags(mat)
    mat.set_defaults(func=cmd_materialize)
    bench = sub.add_parser("bench", help="time the uncertainty engine against its baselines (see README, Performance)")
    bench.add_argument("--quick", action="store_true", help="small sizes (~30 s) instead of the full ones")
    bench.add_argument("--only", action="append", choices=["naive", "kernel", "sobol", "distributions"],
                       help="run only this benchmark (repeatable)")
    bench.set_defaults(func=cmd_bench)
    bf = sub.add_parser("bench-factors", help="time loading each published factor file through its mapping")
    bf.add_argument("--factors-dir", help="folder of published files (default: data/factors; e.g. ../shared/factors)")
    bf.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    bf.set_defaults(func=cmd_bench_factors)
    bb = sub.add_parser("bench-backfill", help="backfill N tenants x years through dagster dev; per-partition overhead")
    bb.add_argument("--tenants", type=int, default=50)
    bb.add_argument("--years", type=int, nargs="+", default=[2022, 2023, 2024, 2025])
    bb.add_argument("--timeout", type=float, default=7200.0, help="seconds to wait for the backfill (default 7200)")
    bb.add_argument("--executor", choices=["in_process", "multiprocess"], default="in_process",
                    help="run config of the backfill's runs (default in_process)")
    bb.set_defaults(func=cmd_bench_backfill)
    sql = sub.add_parser("sql", help="query the lake's report tables through DuckDB views (no query: list the views)")
    sql.add_argument("query", nargs="?", help="e.g. \"SELECT * FROM inventory_by_scope WHERE tenant = 'acme-fr'\"")
    sql.add_argument("--lake", help="lake root (default CARBON_LAKE_URI, else data/lake)")
    sql.add_argument("--max-rows", type=int, default=100)
    sql.set_defaults(func=cmd_sql)
    from carbon_assets import attribution_cli, replay_cli

    replay_cli.add_parser(sub)
    attribution_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as exc:
        print(f"carbon-assets: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
