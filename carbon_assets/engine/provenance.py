"""provenance.json of a calculation in W3C PROV-JSON (https://www.w3.org/submissions/prov-json/).

Built from a calculations record (engine/calculations.py), so the document and the record can never
disagree, and deterministic (no timestamps: the record has none).

- entities: the input files (by content hash), the config files the calculation read (column mapping,
  vocabulary, factor selection, money tables, tenant inputs), the raw_activities slice and the factor
  snapshot with their Delta versions, and every output table with its content sha256 (+ Delta version);
- activity: the calculation, with its tenant, year, signature and parameters;
- agent: the code (package, calculation version, Rust kernel, git commit) as a prov:SoftwareAgent;
- relations: used, wasGeneratedBy, wasAssociatedWith, wasDerivedFrom.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

NS = "carbon"
NS_URI = "urn:carbon-assets:"
PREFIX = {NS: NS_URI, "xsd": "http://www.w3.org/2001/XMLSchema#", "prov": "http://www.w3.org/ns/prov#"}
_CODE = re.compile(r"^(?P<package>[^+]+)\+(?P<calc>calc-[^+]+)\+kernel-(?P<kernel>[^+]+)\+git-(?P<git>.+)$")


def _id(*parts: str) -> str:
    """A qualified name carbon:<part>/<part>...; each part percent-encoded so that any file name is safe."""
    return f"{NS}:" + "/".join(quote(str(p), safe="-._~+") for p in parts)


def _qname(name: str) -> dict:
    return {"$": name, "type": "prov:QUALIFIED_NAME"}


def _int(v: int) -> dict:
    return {"$": int(v), "type": "xsd:long"}


def _decoded(record: dict, key: str):
    v = record[key]
    return json.loads(v) if isinstance(v, str) and key in ("parameters", "inputs", "config_files", "outputs") else v


def code_parts(code_version: str) -> dict[str, str]:
    """package, calculation version, kernel and git commit of a settings.full_code_version() string."""
    m = _CODE.match(code_version or "")
    return m.groupdict() if m else {"package": code_version, "calc": "", "kernel": "", "git": ""}


def _param_value(v):
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    return _int(v) if isinstance(v, int) else v


def prov_document(record: dict) -> dict:
    """The PROV-JSON document of one calculation record (a calculations row or its decoded body)."""
    tenant, year, sig = record["tenant"], record["year"], record["signature"]
    params = _decoded(record, "parameters")
    inputs = _decoded(record, "inputs")
    configs = _decoded(record, "config_files")
    outputs = _decoded(record, "outputs")
    code = code_parts(record["code_version"])

    calc = _id("calculation", sig)
    agent = _id("code", record["code_version"])
    raw = _id("table", "raw_activities", tenant, year, f"v{record['raw_activities_version']}")
    snapshot = _id("factor_snapshot", record["factor_snapshot_id"], f"v{record['factor_snapshot_version']}")

    entity: dict[str, dict] = {}
    for name, sha in sorted(inputs.items()):
        entity[_id("input", f"sha256-{sha}")] = {
            "prov:type": _qname(f"{NS}:InputFile"), "prov:label": name, f"{NS}:file_name": name,
            f"{NS}:sha256": sha}
    for role, c in sorted(configs.items()):
        entity[_id("config", role, f"sha256-{c['sha256']}")] = {
            "prov:type": _qname(f"{NS}:ConfigFile"), "prov:label": c["path"], f"{NS}:role": role,
            f"{NS}:path": c["path"], f"{NS}:sha256": c["sha256"]}
    entity[raw] = {
        "prov:type": _qname(f"{NS}:DeltaTableSlice"), "prov:label": f"raw_activities {tenant} {year}",
        f"{NS}:table": "raw_activities", f"{NS}:tenant": tenant, f"{NS}:year": year,
        f"{NS}:delta_version": _int(record["raw_activities_version"]),
        f"{NS}:content_sha256": record["raw_activities_sha256"], f"{NS}:raw_inputs_hash": record["raw_inputs_hash"]}
    entity[snapshot] = {
        "prov:type": _qname(f"{NS}:FactorSnapshot"), "prov:label": f"factor snapshot {record['factor_snapshot_id']}",
        f"{NS}:table": "factor_snapshot", f"{NS}:snapshot_id": record["factor_snapshot_id"],
        f"{NS}:delta_version": _int(record["factor_snapshot_version"]),
        f"{NS}:content_sha256": record["factor_snapshot_sha256"]}
    out_ids = {}
    for table, o in sorted(outputs.items()):
        oid = out_ids[table] = _id("output", table, tenant, year, f"sha256-{o['content_sha256']}")
        entity[oid] = {"prov:type": _qname(f"{NS}:DeltaTableSlice"), "prov:label": f"{table} {tenant} {year}",
                       f"{NS}:table": table, f"{NS}:tenant": tenant, f"{NS}:year": year,
                       f"{NS}:content_sha256": o["content_sha256"], f"{NS}:signature": sig}
        if o.get("delta_version") is not None:
            entity[oid][f"{NS}:delta_version"] = _int(o["delta_version"])

    activity = {calc: {
        "prov:type": _qname(f"{NS}:Calculation"), "prov:label": f"GHG inventory {tenant} {year}",
        f"{NS}:tenant": tenant, f"{NS}:year": year, f"{NS}:signature": sig,
        f"{NS}:parameters": json.dumps(params, sort_keys=True, separators=(",", ":")),
        f"{NS}:fe_snapshot_id": record["factor_snapshot_id"], f"{NS}:raw_inputs_hash": record["raw_inputs_hash"],
        f"{NS}:git_commit": code["git"], **({f"{NS}:mc_backend": record["mc_backend"]} if record.get("mc_backend")
                                            else {}),
        **{f"{NS}:param_{k}": _param_value(v) for k, v in sorted(params.items())},
    }}
    agents = {agent: {
        "prov:type": _qname("prov:SoftwareAgent"), "prov:label": record["code_version"],
        f"{NS}:code_version": record["code_version"], f"{NS}:package": code["package"],
        f"{NS}:calc_version": code["calc"], f"{NS}:kernel": code["kernel"], f"{NS}:git_commit": code["git"]}}

    used_entities = [*[_id("input", f"sha256-{s}") for _, s in sorted(inputs.items())],
                     *[_id("config", r, f"sha256-{c['sha256']}") for r, c in sorted(configs.items())], raw, snapshot]
    used = {f"_:u{i}": {"prov:activity": calc, "prov:entity": e} for i, e in enumerate(used_entities, 1)}
    generated = {f"_:g{i}": {"prov:entity": oid, "prov:activity": calc}
                 for i, oid in enumerate(out_ids.values(), 1)}
    derived_pairs = [(raw, _id("input", f"sha256-{s}"), None) for _, s in sorted(inputs.items())]
    derived_pairs += [(oid, src, calc) for oid in out_ids.values() for src in (raw, snapshot)]
    derived = {f"_:d{i}": {"prov:generatedEntity": g, "prov:usedEntity": u, **({"prov:activity": a} if a else {})}
               for i, (g, u, a) in enumerate(derived_pairs, 1)}
    return {
        "prefix": dict(PREFIX),
        "entity": entity,
        "activity": activity,
        "agent": agents,
        "used": used,
        "wasGeneratedBy": generated,
        "wasAssociatedWith": {"_:a1": {"prov:activity": calc, "prov:agent": agent}},
        "wasDerivedFrom": derived,
    }


def dumps(doc: dict) -> str:
    """provenance.json text: sorted keys, so the same calculation gives the same bytes."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
