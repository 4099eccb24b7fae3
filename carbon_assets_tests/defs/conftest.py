import dagster as dg
import pytest

from carbon_assets import runner


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    """A temporary lake and exports folder; definitions built after the env is set."""
    monkeypatch.setenv("CARBON_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("CARBON_EXPORTS_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("CARBON_DB_URL", f"sqlite:///{tmp_path / 'registry.sqlite'}")
    from carbon_assets.definitions import defs

    return tmp_path, defs()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def factors_ready(lake_env, instance):
    tmp_path, d = lake_env
    runner.materialize_factors(d, instance)
    return tmp_path, d, instance
