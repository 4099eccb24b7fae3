"""The heavy step (Monte Carlo + Bilan Carbone interval of one tenant-year) as a Dagster Pipes
external process. The same code runs wherever compute_mode sends it: a local subprocess, an ECS
task (cluster), a Lambda function or an EMR Serverless job (serverless), started by the matching
Pipes client in defs/heavy_compute.py.

    python -m carbon_assets.pipes_step        (Dagster Pipes supplies the context and extras)

Extras: ``input`` (Parquet of the tenant-year's emission lines), ``output`` (Parquet to write the
distributions to), ``tenant``, ``year``, ``params`` (CalcParams fields). Paths may be local or
s3:// (polars reads and writes both).
"""

from __future__ import annotations

import time

import polars as pl
from dagster_pipes import open_dagster_pipes

from carbon_assets.engine import montecarlo, reports
from carbon_assets.engine.params import CalcParams


def run_step(extras: dict) -> dict:
    """Read the lines, simulate, write the distributions; returns a summary for the orchestrator."""
    params = CalcParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in extras["params"].items()})
    emissions = pl.read_parquet(extras["input"])
    t0 = time.perf_counter()
    dist, _, _ = reports.simulate(emissions, extras["tenant"], extras["year"], params)
    seconds = time.perf_counter() - t0
    dist.write_parquet(extras["output"])
    return {"rows": dist.height, "mc_seconds": round(seconds, 4), "mc_kernel": montecarlo.kernel_version()}


def main() -> None:
    with open_dagster_pipes() as pipes:
        summary = run_step(dict(pipes.extras))
        pipes.log.info(f"heavy step done: {summary}")
        pipes.report_custom_message(summary)


def lambda_handler(event: dict, _context) -> dict:
    """AWS Lambda entry (PipesLambdaClient passes the Pipes context and our extras in the event)."""
    from dagster_pipes import PipesMappingParamsLoader

    with open_dagster_pipes(params_loader=PipesMappingParamsLoader(event)) as pipes:
        summary = run_step({k: event[k] for k in ("input", "output", "tenant", "year", "params")})
        pipes.report_custom_message(summary)
        return summary


if __name__ == "__main__":
    main()
