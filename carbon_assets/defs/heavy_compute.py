"""Where the heavy step of emission_distributions runs, by compute_mode.

- ``local``: in the run's own process (the multiprocess executor spreads steps over this machine;
  the Rust kernel spreads samples over its cores).
- ``cluster``: carbon_assets/pipes_step.py as an ECS task through dagster-aws's PipesECSClient.
- ``serverless``: the same module as a Lambda function (PipesLambdaClient) or an EMR Serverless
  job (PipesEMRServerlessClient).

The remote code is identical in every mode (``python -m carbon_assets.pipes_step``); only the
transport differs. Input and output Parquet files go through ``staging_uri`` (an s3:// prefix for
remote engines). ``launcher: subprocess`` runs the remote path as a local Pipes subprocess: the
tests use it to prove the remote path gives the same bytes as ``local``.
"""


import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl

from carbon_assets.engine.params import CalcParams

STEP_COMMAND = [sys.executable, "-m", "carbon_assets.pipes_step"]


class HeavyCompute(dg.ConfigurableResource):
    """Pipes launch settings for compute_mode cluster / serverless (env: CARBON_ECS_*, CARBON_LAMBDA_*...)."""

    cluster_launcher: Literal["ecs", "subprocess"] = "ecs"
    serverless_launcher: Literal["lambda", "emr_serverless", "subprocess"] = "lambda"
    staging_uri: str = ""  # s3://bucket/prefix for remote engines; a local temp dir when empty
    ecs_cluster: str = ""
    ecs_task_definition: str = ""
    ecs_subnets: list[str] = []  # noqa: RUF012  (pydantic copies field defaults per instance)
    ecs_container: str = "carbon-assets"
    lambda_function: str = ""
    emr_application_id: str = ""
    emr_execution_role_arn: str = ""

    @classmethod
    def from_env(cls) -> "HeavyCompute":
        """Settings from CARBON_HEAVY_<FIELD> variables (e.g. CARBON_HEAVY_ECS_CLUSTER); lists comma-separated."""
        import os

        values = {}
        for name, field in cls.model_fields.items():
            raw = os.environ.get(f"CARBON_HEAVY_{name.upper()}")
            if raw is not None:
                values[name] = [v for v in raw.split(",") if v] if field.annotation == list[str] else raw
        return cls(**values)

    def launcher(self, mode: str) -> str:
        return {"cluster": self.cluster_launcher, "serverless": self.serverless_launcher}[mode]

    def missing_settings(self, mode: str) -> list[str]:
        """Settings the chosen remote engine needs and does not have (empty = ready to launch)."""
        need = {"ecs": ["ecs_cluster", "ecs_task_definition", "ecs_subnets", "staging_uri"],
                "lambda": ["lambda_function", "staging_uri"],
                "emr_serverless": ["emr_application_id", "emr_execution_role_arn", "staging_uri"],
                "subprocess": []}[self.launcher(mode)]
        return [k for k in need if not getattr(self, k)]

    def ecs_run_task_params(self) -> dict:
        return {"cluster": self.ecs_cluster, "taskDefinition": self.ecs_task_definition, "launchType": "FARGATE",
                "count": 1,
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": list(self.ecs_subnets),
                                                                 "assignPublicIp": "DISABLED"}},
                "overrides": {"containerOverrides": [{"name": self.ecs_container,
                                                      "command": ["python", "-m", "carbon_assets.pipes_step"]}]}}

    def emr_start_job_run_params(self, extras: dict) -> dict:
        return {"applicationId": self.emr_application_id, "executionRoleArn": self.emr_execution_role_arn,
                "jobDriver": {"sparkSubmit": {"entryPoint": "carbon_assets/pipes_step.py",
                                              "entryPointArguments": [json.dumps(extras)]}}}

    def run(self, context: dg.AssetExecutionContext, mode: str, emissions: pl.DataFrame, tenant: str, year: str,
            params: CalcParams) -> tuple[pl.DataFrame, dict]:
        """Run pipes_step for one tenant-year on the mode's engine; (distributions, step summary)."""
        missing = self.missing_settings(mode)
        if missing:
            raise dg.Failure(description=f"compute_mode={mode} with launcher {self.launcher(mode)} needs "
                                         f"{', '.join(missing)} (HeavyCompute resource settings)")
        with tempfile.TemporaryDirectory(prefix="carbon_heavy_") as tmp:
            base = self.staging_uri.rstrip("/") + f"/{uuid.uuid4().hex}" if self.staging_uri else tmp
            if not self.staging_uri:
                Path(base).mkdir(parents=True, exist_ok=True)
            extras = {"input": f"{base}/emissions.parquet", "output": f"{base}/distributions.parquet",
                      "tenant": tenant, "year": year,
                      "params": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(params).items()}}
            emissions.write_parquet(extras["input"])
            invocation = self._invoke(context, mode, extras)
            summary = next((m for m in invocation.get_custom_messages()), {})
            return pl.read_parquet(extras["output"]), summary

    def _invoke(self, context, mode: str, extras: dict):
        launcher = self.launcher(mode)
        if launcher == "subprocess":
            return dg.PipesSubprocessClient().run(context=context, command=STEP_COMMAND, extras=extras)
        from dagster_aws import pipes as aws_pipes

        if launcher == "ecs":
            return aws_pipes.PipesECSClient().run(context=context, run_task_params=self.ecs_run_task_params(),
                                                  extras=extras, pipes_container_name=self.ecs_container)
        if launcher == "lambda":
            return aws_pipes.PipesLambdaClient().run(context=context, function_name=self.lambda_function,
                                                     event=extras)
        return aws_pipes.PipesEMRServerlessClient().run(context=context, extras=extras,
                                                        start_job_run_params=self.emr_start_job_run_params(extras))


@dg.definitions
def heavy_compute() -> dg.Definitions:
    return dg.Definitions(resources={"heavy": HeavyCompute.from_env()})
