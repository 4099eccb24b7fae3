import polars as pl
import pytest

from carbon_assets.engine import lineage
from carbon_assets.engine.params import CalcParams, ParameterError, validate_tenant_slug


def test_frame_hash_is_order_independent_and_content_sensitive():
    a = pl.DataFrame({"k": ["x", "y", "z"], "v": [1.0, 2.0, None]})
    assert lineage.frame_sha256(a) == lineage.frame_sha256(a.reverse())
    assert lineage.frame_sha256(a) != lineage.frame_sha256(a.with_columns(pl.col("v") * 1.0000001))
    assert lineage.frame_bytes(a) == lineage.frame_bytes(a.sample(fraction=1.0, shuffle=True, seed=3))


def test_signature_covers_every_ingredient():
    base = {"inputs": {"a.csv": "1" * 64}, "factor_snapshot": "f" * 64, "mappings": {"m": "2" * 64},
            "code_version": "c", "parameters": CalcParams().signature_dict()}
    sig = lineage.signature(**base)
    assert sig.startswith("sha256-") and len(sig) == 7 + 64
    assert lineage.signature(**base) == sig
    for key, other in [("inputs", {"a.csv": "3" * 64}), ("factor_snapshot", "e" * 64), ("mappings", {}),
                       ("code_version", "d"), ("parameters", CalcParams(default_gwp="AR5").signature_dict())]:
        assert lineage.signature(**{**base, key: other}) != sig, key


def test_compute_mode_changes_no_number():
    assert CalcParams(compute_mode="cluster").signature_dict() == CalcParams().signature_dict()


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("primary_fe_namespace", "GHGP", "ADEME, DEFRA, EPA, EXIOBASE, Ecoinvent, custom"),
    ("default_gwp", "AR4", "AR5, AR6"),
    ("compute_mode", "spark", "local, cluster, serverless"),
])
def test_invalid_parameter_names_parameter_and_allowed_values(field, value, allowed):
    with pytest.raises(ParameterError, match=f"parameter {field}='{value}' is invalid; allowed values: {allowed}"):
        CalcParams(**{field: value})


def test_other_invalid_parameters():
    with pytest.raises(ParameterError, match="mc_samples"):
        CalcParams(mc_samples=1)
    with pytest.raises(ParameterError, match="github_repo_url"):
        CalcParams(github_repo_url="not a url")
    with pytest.raises(ParameterError, match="fe_namespace_priority"):
        CalcParams(fe_namespace_priority=("ADEME", "nope"))


@pytest.mark.parametrize("bad", ["../x", "a|b", "acme corp", "Acme", "", "-acme", "a" * 64, "a/b", "a,b"])
def test_bad_tenant_slugs_are_refused(bad):
    with pytest.raises(ParameterError, match="not a valid tenant slug"):
        validate_tenant_slug(bad)


@pytest.mark.parametrize("good", ["acme", "acme-fr", "globex_uk", "0day", "a" * 63])
def test_good_tenant_slugs(good):
    assert validate_tenant_slug(good) == good


def test_env_then_overrides():
    env = {"CARBON_DEFAULT_GWP": "AR5", "CARBON_MC_SAMPLES": "500", "CARBON_FE_NAMESPACE_PRIORITY": "DEFRA, custom"}
    p = CalcParams.from_env(env, mc_samples=None, compute_mode="cluster")
    assert (p.default_gwp, p.mc_samples, p.compute_mode) == ("AR5", 500, "cluster")
    assert p.namespace_order() == ("ADEME", "DEFRA", "custom")
    with pytest.raises(ParameterError, match="mc_seed"):
        CalcParams.from_env({"CARBON_MC_SEED": "x"})


def test_tenant_name_must_match_partition():
    assert CalcParams().for_tenant("acme").tenant_name == "acme"
    with pytest.raises(ParameterError, match="does not match the partition"):
        CalcParams(tenant_name="globex").for_tenant("acme")


def test_frame_bytes_do_not_depend_on_memory_layout():
    """Same values reached through a slice (offset bitmaps, shared buffers) and rebuilt from rows."""
    big = pl.DataFrame({"s": [f"name-{i:05d}-long-enough-for-views" if i % 3 else None for i in range(1000)],
                        "x": [float(i) if i % 5 else None for i in range(1000)]})
    part = big.filter(pl.col("x").is_not_null() | pl.col("s").is_not_null()).slice(7, 301)
    rebuilt = pl.DataFrame(part.rows(), schema=part.schema, orient="row")
    assert lineage.frame_bytes(part) == lineage.frame_bytes(rebuilt)
