"""The real Dagster UI: `dagster dev` (webserver + daemon) on 127.0.0.1 with the project's
dagster.yaml, the asset graph loaded in headless Chromium (Debian's package, driven by Selenium)
with a screenshot saved, and a tenant-year materialization launched through the GraphQL mutation
the UI's Materialize button sends, waited for until it succeeds."""

import time

import dagster as dg
import pytest

from carbon_assets import devserver as dev
from carbon_assets import runner
from carbon_assets_tests.browser import need_binary

LAUNCH = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}"""
RUN_STATUS = 'query RunStatus($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }'


def _need(binary: str) -> str:
    return need_binary(binary, "UI test")


@pytest.fixture
def dagster_dev(tmp_path, monkeypatch):
    chromium, chromedriver = _need("chromium"), _need("chromedriver")
    home = dev.dagster_home(tmp_path)
    carbon = dev.carbon_env(tmp_path)
    for k, v in carbon.items():
        monkeypatch.setenv(k, v)
    from carbon_assets.definitions import defs

    # factors first, in-process on the same instance (the UI test is about the tenant-year button)
    with dg.DagsterInstance.from_config(str(home)) as inst:
        runner.materialize_factors(defs(), inst)
        inst.add_dynamic_partitions("tenants", ["acme-fr"])
    with dev.running(home, carbon) as server:
        yield server, tmp_path, chromium, chromedriver


def test_asset_graph_in_chromium_and_materialize_through_graphql(dagster_dev):
    server, tmp_path, chromium, chromedriver = dagster_dev
    port = server.port
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(chromedriver), options=opts)
    try:
        driver.get(f"http://127.0.0.1:{port}/locations/carbon_assets/asset-groups/calculation")
        WebDriverWait(driver, 90).until(lambda d: "emission_distributions" in d.find_element(By.TAG_NAME, "body").text)
        for skip in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):  # first-visit newsletter modal
            skip.click()
        body = driver.find_element(By.TAG_NAME, "body").text
        # the group's graph with its upstream and downstream neighbours
        assert all(a in body for a in ("emissions", "sensitivity", "inventory_report", "factor_snapshot"))
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
        shot = tmp_path / "asset_graph.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        driver.quit()

    # what the Materialize button sends for the tenant-year assets of a partition: the implicit asset
    # job, the asset keys, the checks that live on them, and the partition tags
    from carbon_assets.definitions import defs

    d = defs()
    assets = d.resolve_job_def("tenant_year_job").asset_layer.selected_asset_keys
    checks = [c for c in d.resolve_asset_graph().asset_check_keys if c.asset_key in assets]
    key = dg.MultiPartitionKey({"tenant": "acme-fr", "year": "2024"})
    params = {"mode": "default", "runConfigData": {},
              "selector": {"repositoryLocationName": "carbon_assets", "repositoryName": "__repository__",
                           "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": k.path} for k in assets],
                           "assetCheckSelection": [{"assetKey": {"path": c.asset_key.path}, "name": c.name}
                                                   for c in checks]},
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": str(key)},
                                             {"key": "dagster/partition/tenant", "value": "acme-fr"},
                                             {"key": "dagster/partition/year", "value": "2024"}]}}
    launched = server.graphql(LAUNCH, {"executionParams": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status, deadline = None, time.monotonic() + 240
    while time.monotonic() < deadline and status not in ("SUCCESS", "FAILURE", "CANCELED"):
        time.sleep(2)
        status = server.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
    assert status == "SUCCESS"
    assert (tmp_path / "exports" / "acme-fr" / "2024" / "inventory.json").exists()
