"""Engine-test fixtures: a throw-away PostgreSQL server (see carbon_assets_tests/postgres_fixture.py)."""

from carbon_assets_tests.postgres_fixture import postgres_url  # noqa: F401  (registers the fixture)
