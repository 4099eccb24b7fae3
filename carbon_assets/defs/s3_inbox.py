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
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.engine import activities, inbox, readers
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


def size_limits(files: ProjectFiles):
    """tenant -> the byte limit of its mapping (default 50 MB); a broken mapping gets the default
    here, its run reports the mapping error."""
    cache: dict[str, int] = {}

    def limit(tenant: str) -> int:
        if tenant not in cache:
            try:
                mapping = activities.ColumnMapping.load(activities.tenant_mapping_path(files.tenants, tenant))
                cache[tenant] = mapping.max_bytes
            except Exception:  # noqa: BLE001 - any mapping problem is the run's to report
                cache[tenant] = readers.DEFAULT_MAX_BYTES
        return cache[tenant]

    return limit


@dg.sensor(job=tenant_year_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def s3_inbox_sensor(context: dg.SensorEvaluationContext, s3_inbox: S3Inbox,
                    files: ProjectFiles) -> dg.SensorResult | dg.SkipReason:
    """Watches s3://<bucket>/<prefix>/<tenant>/<year>/ ; run_key = hash of the new objects' SHA-256.

    Each object is downloaded once per (key, ETag) to hash it; the cursor remembers the hashes."""
    if not s3_inbox.enabled:
        return dg.SkipReason("CARBON_INBOX_URI is not an s3:// URI: the S3 inbox is off")
    bucket, prefix = s3_inbox.location()
    client = s3_inbox.client()
    listed, refused = s3_engine.scan(client, bucket, prefix)
    cursor = inbox.InboxCursor.parse(context.cursor)
    ident = s3_engine.identify(client, bucket, listed, cursor.s3_sha256, size_limits(files))
    waiting = {(o.tenant, o.year) for o in ident.pending}
    if waiting:  # a tenant-year runs once all its objects have a content id
        context.log.info(f"s3inbox: {len(ident.pending)} object(s) not hashed yet, waiting: "
                         + ", ".join(f"{t}/{y}" for t, y in sorted(waiting)))
    found = [o for o in ident.objects if (o.tenant, o.year) not in waiting]
    return inbox_tick(context, found, refused, "s3inbox", cursor.with_s3_sha256(ident.hashes))



@dg.definitions
def s3_inbox_defs() -> dg.Definitions:
    """A module with a @dg.definitions function contributes only what that function returns."""
    return dg.Definitions(resources={"s3_inbox": S3Inbox.from_env()}, sensors=[s3_inbox_sensor])
