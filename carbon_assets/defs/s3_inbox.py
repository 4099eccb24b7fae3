"""The S3 inbox (dagster-aws): ``CARBON_INBOX_URI=s3://bucket/prefix`` switches raw_activities and
``s3_inbox_sensor`` to ``<prefix>/<tenant>/<year>/<file>`` objects. Endpoint and credentials come from
the usual AWS variables (CARBON_S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for an S3-compatible server,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)."""


import os

import dagster as dg
from dagster_aws.s3 import S3Resource

from carbon_assets import settings
from carbon_assets.defs.inbox_sensor import inbox_tick
from carbon_assets.defs.jobs import tenant_year_job
from carbon_assets.engine import s3_inbox as s3_engine


class S3Inbox(dg.ConfigurableResource):
    """Where the S3 inbox is; empty ``uri`` = the local inbox is used."""

    uri: str = ""
    endpoint_url: str | None = None
    region_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    @classmethod
    def from_env(cls) -> "S3Inbox":
        uri = os.environ.get("CARBON_INBOX_URI", "")
        return cls(uri=uri if uri.startswith("s3://") else "",
                   endpoint_url=settings.s3_endpoint_url(),
                   region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))

    @property
    def enabled(self) -> bool:
        return bool(self.uri)

    def location(self) -> tuple[str, str]:
        return s3_engine.parse_uri(self.uri)

    def client(self):
        return S3Resource(endpoint_url=self.endpoint_url, region_name=self.region_name,
                          aws_access_key_id=self.aws_access_key_id,
                          aws_secret_access_key=self.aws_secret_access_key).get_client()


@dg.sensor(job=tenant_year_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def s3_inbox_sensor(context: dg.SensorEvaluationContext, s3_inbox: S3Inbox) -> dg.SensorResult | dg.SkipReason:
    """Watches s3://<bucket>/<prefix>/<tenant>/<year>/ ; run_key = hash of the new objects' ETags."""
    if not s3_inbox.enabled:
        return dg.SkipReason("CARBON_INBOX_URI is not an s3:// URI: the S3 inbox is off")
    bucket, prefix = s3_inbox.location()
    found, refused = s3_engine.scan(s3_inbox.client(), bucket, prefix)
    return inbox_tick(context, found, refused, "s3inbox")



@dg.definitions
def s3_inbox_defs() -> dg.Definitions:
    """A module with a @dg.definitions function contributes only what that function returns."""
    return dg.Definitions(resources={"s3_inbox": S3Inbox.from_env()}, sensors=[s3_inbox_sensor])
