"""provenance.json (W3C PROV-JSON) and the calculations record it is built from: validated by the `prov`
package (deserialized, records counted and read back) and by structural checks of our own."""

import json

import pytest
from prov.model import (
    PROV_ASSOCIATION,
    PROV_DERIVATION,
    PROV_GENERATION,
    PROV_USAGE,
    ProvActivity,
    ProvAgent,
    ProvDocument,
    ProvEntity,
)

from carbon_assets.engine import calculation, calculations, provenance
from carbon_assets.engine.params import CalcParams

SIG = "sha256-" + "ab" * 32
CODE = "carbon_assets-0.1.0+calc-1+kernel-0.2.0+git-40c90a954c1f26765af126fe5de3f0797ef93667"
INPUTS = {"énergie 2024 (v2).csv": "1" * 64, "deplacements_2024.csv": "2" * 64}
MAPPING = b"columns:\n  quantity: [quantity, quantite]\n"
SELECTION = b"tie_break: [namespace_rank, factor_id]\n"


def _row(**over) -> dict:
    kw = {
        "tenant": "acme-fr", "year": "2024", "signature": SIG, "code_version": CODE, "inputs": INPUTS,
        "parameters": CalcParams(mc_samples=2000).for_tenant("acme-fr").signature_dict(),
        "raw_activities": calculations.TableVersion("3" * 64, 4), "factor_snapshot_id": "fs-0123456789abcdef",
        "factor_snapshot": calculations.TableVersion("4" * 64, 5),
        "config_files": {"column_mapping": calculations.config_entry("tenants/default_mapping.yaml", MAPPING),
                         "selection": calculations.config_entry("selection.yaml", SELECTION)},
        "outputs": {"emissions": calculations.TableVersion("5" * 64, 7),
                    "emission_distributions": calculations.TableVersion("6" * 64, 7),
                    "inventory_report": calculations.TableVersion("7" * 64)},
        "mc_backend": "rust",
    }
    return calculations.record(**{**kw, **over})


def _attrs(record) -> dict:
    return {str(k): getattr(v, "value", v) for k, v in record.attributes}


def test_prov_json_deserializes_with_every_record():
    row = _row()
    doc = ProvDocument.deserialize(content=row["provenance"], format="json")
    by_type = {}
    for r in doc.get_records():
        by_type.setdefault(r.get_type(), []).append(r)
    assert len(list(doc.get_records(ProvEntity))) == 2 + 2 + 1 + 1 + 3  # inputs, configs, raw slice, snapshot, outputs
    assert len(list(doc.get_records(ProvActivity))) == 1 and len(list(doc.get_records(ProvAgent))) == 1
    assert len(by_type[PROV_USAGE]) == 2 + 2 + 2  # inputs, configs, raw slice and snapshot
    assert len(by_type[PROV_GENERATION]) == 3
    assert len(by_type[PROV_ASSOCIATION]) == 1
    assert len(by_type[PROV_DERIVATION]) == 2 + 3 * 2  # raw <- each file; each output <- raw and snapshot

    ids = {str(r.identifier): r for r in doc.get_records() if r.identifier is not None}
    calc = _attrs(ids[f"carbon:calculation/{SIG}"])
    assert (calc["carbon:tenant"], calc["carbon:year"], calc["carbon:signature"]) == ("acme-fr", "2024", SIG)
    assert int(calc["carbon:param_mc_samples"]) == 2000 and calc["carbon:param_default_gwp"] == "AR6"
    assert json.loads(calc["carbon:parameters"])["mc_samples"] == 2000
    assert calc["carbon:fe_snapshot_id"] == "fs-0123456789abcdef"
    assert calc["carbon:git_commit"] == "40c90a954c1f26765af126fe5de3f0797ef93667"
    agent = _attrs(ids[f"carbon:code/{CODE}"])
    assert str(agent["prov:type"]) == "prov:SoftwareAgent"
    assert (agent["carbon:package"], agent["carbon:kernel"]) == ("carbon_assets-0.1.0", "0.2.0")
    snap = _attrs(ids["carbon:factor_snapshot/fs-0123456789abcdef/v5"])
    assert int(snap["carbon:delta_version"]) == 5 and snap["carbon:content_sha256"] == "4" * 64
    raw = _attrs(ids["carbon:table/raw_activities/acme-fr/2024/v4"])
    assert int(raw["carbon:delta_version"]) == 4 and raw["carbon:raw_inputs_hash"] == row["raw_inputs_hash"]
    mapping = _attrs(ids[f"carbon:config/column_mapping/sha256-{calculations.lineage.bytes_sha256(MAPPING)}"])
    assert mapping["carbon:path"] == "tenants/default_mapping.yaml"
    report = _attrs(ids[f"carbon:output/inventory_report/acme-fr/2024/sha256-{'7' * 64}"])
    assert "carbon:delta_version" not in report  # not known: not invented
    assert int(_attrs(ids[f"carbon:output/emissions/acme-fr/2024/sha256-{'5' * 64}"])["carbon:delta_version"]) == 7


def test_file_names_are_safe_identifiers_and_keep_their_label():
    doc = ProvDocument.deserialize(content=_row()["provenance"], format="json")
    files = {_attrs(r)["prov:label"]: str(r.identifier) for r in doc.get_records(ProvEntity)
             if str(r.identifier).startswith("carbon:input/")}
    assert files == {"énergie 2024 (v2).csv": f"carbon:input/sha256-{'1' * 64}",
                     "deplacements_2024.csv": f"carbon:input/sha256-{'2' * 64}"}
    assert provenance._id("input", "a b/é") == "carbon:input/a%20b%2F%C3%A9"
    provn = doc.get_provn()  # PROV-N serialisation works on every record
    assert f"wasAssociatedWith(carbon:calculation/{SIG}, carbon:code/{CODE}" in provn


def test_every_relation_points_at_a_declared_node():
    doc = json.loads(_row()["provenance"])
    assert set(doc) == {"prefix", "entity", "activity", "agent", "used", "wasGeneratedBy", "wasAssociatedWith",
                        "wasDerivedFrom"}
    assert doc["prefix"]["carbon"] == provenance.NS_URI
    entities, activities, agents = set(doc["entity"]), set(doc["activity"]), set(doc["agent"])
    for rel in doc["used"].values():
        assert rel["prov:activity"] in activities and rel["prov:entity"] in entities
    for rel in doc["wasGeneratedBy"].values():
        assert rel["prov:activity"] in activities and rel["prov:entity"] in entities
    for rel in doc["wasAssociatedWith"].values():
        assert rel["prov:activity"] in activities and rel["prov:agent"] in agents
    for rel in doc["wasDerivedFrom"].values():
        assert rel["prov:generatedEntity"] in entities and rel["prov:usedEntity"] in entities
    generated = {r["prov:entity"] for r in doc["wasGeneratedBy"].values()}
    used = {r["prov:entity"] for r in doc["used"].values()}
    assert generated.isdisjoint(used) and generated | used == entities  # inputs in, outputs out, nothing dangling


def test_same_record_same_bytes_and_prov_round_trip():
    a, b = _row(), _row()
    assert a == b and provenance.dumps(json.loads(a["provenance"])) == provenance.dumps(json.loads(b["provenance"]))
    doc = ProvDocument.deserialize(content=a["provenance"], format="json")
    again = ProvDocument.deserialize(content=doc.serialize(format="json"), format="json")
    assert again == doc
    assert _row(outputs={"emissions": calculations.TableVersion("8" * 64, 7)})["provenance"] != a["provenance"]


def test_record_parses_back_and_refuses_corruption():
    row = _row()
    rec = calculations.parse(row)
    assert rec.inputs == INPUTS and rec.raw_activities == calculations.TableVersion("3" * 64, 4)
    assert rec.factor_snapshot.delta_version == 5 and rec.outputs["inventory_report"].delta_version is None
    assert calculations.config_bytes(rec.config_files["selection"]) == SELECTION
    assert CalcParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in rec.parameters.items()}) \
        .signature_dict() == rec.parameters
    with pytest.raises(calculations.CorruptRecord, match="column inputs is not valid JSON"):
        calculations.parse({**row, "inputs": "{"})
    with pytest.raises(calculations.CorruptRecord, match="column raw_activities_version has str"):
        calculations.parse({**row, "raw_activities_version": "4"})
    with pytest.raises(ValueError, match="need their Delta versions"):
        _row(raw_activities=calculations.TableVersion("3" * 64, None))


def test_config_text_round_trips_bytes_even_when_not_utf8():
    latin = "site;quantité\n".encode("latin-1")
    entry = calculations.config_entry("tenants/acme-fr/scope2_instruments.csv", latin)
    assert entry["encoding"] == "base64" and calculations.config_bytes(entry) == latin
    crlf = b"a: 1\r\nb: 2\r\n"
    assert calculations.config_bytes(calculations.config_entry("x.yaml", crlf)) == crlf


def test_optional_tenant_inputs_enter_the_signature(tmp_path):
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "default_mapping.yaml").write_bytes(MAPPING)
    (tmp_path / "activity_keys.yaml").write_text("electricity.grid: {scope: '2'}\n")
    (tmp_path / "selection.yaml").write_bytes(SELECTION)
    config = calculation.ConfigFiles(tmp_path, "acme-fr")
    before = config.sha256()
    assert set(before) == {"column_mapping", "activity_keys", "selection"}
    sig = calculation.signature_from(INPUTS, "4" * 64, "2024", before, CODE, {"mc_seed": 42})
    (tmp_path / "tenants" / "acme-fr").mkdir()
    (tmp_path / "tenants" / "acme-fr" / "scope2_instruments.csv").write_text("instrument_id\n")
    after = config.sha256()
    assert set(after) == set(before) | {"scope2_instruments"}
    assert config.relative("scope2_instruments") == "tenants/acme-fr/scope2_instruments.csv"
    assert calculation.signature_from(INPUTS, "4" * 64, "2024", after, CODE, {"mc_seed": 42}) != sig
    # the partition year is part of the signature: the same files under another year give other rows
    assert calculation.signature_from(INPUTS, "4" * 64, "2025", before, CODE, {"mc_seed": 42}) != sig
    (tmp_path / "selection.yaml").unlink()
    with pytest.raises(FileNotFoundError, match=r"selection\.yaml \(selection\) not found"):
        config.sha256()
