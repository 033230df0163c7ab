"""A minimal OpenAPI v3 surface: just enough for ``kubectl apply``/``create`` to validate on the server side.

kubectl 1.32 validates manifests by asking whether the server supports the ``fieldValidation`` query
parameter on each kind's PATCH operation (found through ``x-kubernetes-group-version-kind``). Answering
yes makes it send ``fieldValidation=Strict`` instead of downloading full schemas; without any OpenAPI at all
it refuses to apply. Strategic-merge metadata is not advertised, so kubectl falls back to its built-in
type information for patches, which is exact for the built-in kinds served here.
"""

from __future__ import annotations

from typing import Any

from kubesim.resources import GROUP_VERSIONS, RESOURCES

HASH = "5E6F0A1C2B3D4E5F"


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def root() -> dict[str, Any]:
    """GET /openapi/v3: where each group-version's document lives."""
    return {"paths": {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={HASH}"}
                      for g, vs in GROUP_VERSIONS.items() for v in vs}}


def group_version(group: str, version: str) -> dict[str, Any] | None:
    """GET /openapi/v3/api/v1 (or /apis/G/V): one PATCH operation per kind, declaring fieldValidation."""
    if version not in GROUP_VERSIONS.get(group, []):
        return None
    prefix = "/" + _gv_path(group, version)
    paths: dict[str, Any] = {}
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        path = f"{prefix}/namespaces/{{namespace}}/{r.name}/{{name}}" if r.namespaced else f"{prefix}/{r.name}/{{name}}"
        paths[path] = {"patch": {
            "operationId": f"patch{r.kind}",
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                           {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}}],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
        }}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.4"}, "paths": paths, "components": {"schemas": {}}}
