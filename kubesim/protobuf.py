"""Decoding the Kubernetes protobuf request bodies kubectl 1.32 sends for ``kubectl create <kind>``.

Those commands use typed clients that encode built-in objects as ``application/vnd.kubernetes.protobuf``
(the ``k8s\\x00`` envelope around a ``runtime.Unknown``), and client-go only falls back to JSON after a 415
for CBOR, not for protobuf. So the kinds kubectl creates that way are decoded here from a field map per
kind (field numbers from the API's generated.proto). Fields not listed are ignored; unknown kinds get 415.
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"
Schema = dict[int, tuple[str, Any]]


class ProtobufError(ValueError):
    """The body is not a protobuf encoding this server understands."""


META: Schema = {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                11: ("labels", "map_ss"), 12: ("annotations", "map_ss"), 14: ("finalizers", ("list", "string"))}
SELECTOR: Schema = {1: ("matchLabels", "map_ss"), 2: ("matchExpressions", ("list", {
    1: ("key", "string"), 2: ("operator", "string"), 3: ("values", ("list", "string"))}))}
INT_OR_STRING: Schema = {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")}
PORT: Schema = {1: ("name", "string"), 2: ("hostPort", "int"), 3: ("containerPort", "int"), 4: ("protocol", "string")}
ENV: Schema = {1: ("name", "string"), 2: ("value", "string")}
RESOURCES: Schema = {1: ("limits", "map_qty"), 2: ("requests", "map_qty")}
CONTAINER: Schema = {1: ("name", "string"), 2: ("image", "string"), 3: ("command", ("list", "string")),
                     4: ("args", ("list", "string")), 5: ("workingDir", "string"), 6: ("ports", ("list", PORT)),
                     7: ("env", ("list", ENV)), 8: ("resources", RESOURCES), 13: ("terminationMessagePath", "string"),
                     14: ("imagePullPolicy", "string"), 20: ("terminationMessagePolicy", "string")}
POD_SPEC: Schema = {2: ("containers", ("list", CONTAINER)), 3: ("restartPolicy", "string"),
                    4: ("terminationGracePeriodSeconds", "int"), 6: ("dnsPolicy", "string"), 7: ("nodeSelector", "map_ss"),
                    8: ("serviceAccountName", "string"), 10: ("nodeName", "string"), 14: ("securityContext", {}),
                    19: ("schedulerName", "string"), 20: ("initContainers", ("list", CONTAINER))}
TEMPLATE: Schema = {1: ("metadata", META), 2: ("spec", POD_SPEC)}
SERVICE_PORT: Schema = {1: ("name", "string"), 2: ("protocol", "string"), 3: ("port", "int"),
                        4: ("targetPort", INT_OR_STRING), 5: ("nodePort", "int")}

KINDS: dict[str, Schema] = {
    "Namespace": {1: ("metadata", META)},
    "ConfigMap": {1: ("metadata", META), 2: ("data", "map_ss"), 3: ("binaryData", "map_sb"), 4: ("immutable", "bool")},
    "Secret": {1: ("metadata", META), 2: ("data", "map_sb"), 3: ("type", "string"), 4: ("stringData", "map_ss"),
               5: ("immutable", "bool")},
    "Pod": {1: ("metadata", META), 2: ("spec", POD_SPEC)},
    "Service": {1: ("metadata", META), 2: ("spec", {1: ("ports", ("list", SERVICE_PORT)), 2: ("selector", "map_ss"),
                                                    3: ("clusterIP", "string"), 4: ("type", "string")})},
    "Deployment": {1: ("metadata", META), 2: ("spec", {1: ("replicas", "int"), 2: ("selector", SELECTOR), 3: ("template", TEMPLATE),
                                                       4: ("strategy", {1: ("type", "string")}), 5: ("minReadySeconds", "int"),
                                                       6: ("revisionHistoryLimit", "int"), 7: ("paused", "bool"),
                                                       9: ("progressDeadlineSeconds", "int")})},
    "Eviction": {1: ("metadata", META), 2: ("deleteOptions", {1: ("gracePeriodSeconds", "int")})},
}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) of one message."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        val: int | bytes
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        out.append((num, wt, val))
    return out


def _scalar(kind: str, raw: Any) -> Any:
    if kind == "string":
        return raw.decode()
    if kind == "bytes":
        return base64.b64encode(raw).decode()
    if kind == "int":
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if kind == "bool":
        return bool(raw)
    raise ProtobufError(f"unknown scalar {kind}")


def decode_message(buf: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for num, _, raw in _fields(buf):
        if num not in schema:
            continue
        name, kind = schema[num]
        if isinstance(kind, tuple):  # repeated
            item = kind[1]
            out.setdefault(name, []).append(decode_message(raw, item) if isinstance(item, dict) else _scalar(item, raw))
        elif isinstance(kind, dict):
            out[name] = decode_message(raw, kind)
        elif kind.startswith("map_"):
            entry = {n: v for n, _, v in _fields(raw)}
            key = entry.get(1, b"").decode()
            value = entry.get(2, b"")
            if kind == "map_sb":
                out.setdefault(name, {})[key] = base64.b64encode(value).decode()
            elif kind == "map_qty":  # resource.Quantity: message {1: string}
                out.setdefault(name, {})[key] = {n: v for n, _, v in _fields(value)}.get(1, b"").decode()
            else:
                out.setdefault(name, {})[key] = value.decode()
        else:
            value = _scalar(kind, raw)
            if value != "":
                out[name] = value
    if "targetPort" in out and isinstance(out["targetPort"], dict):  # IntOrString
        tp = out["targetPort"]
        out["targetPort"] = tp.get("strVal") if tp.get("type") == 1 else tp.get("intVal", 0)
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A JSON-shaped object from a protobuf request body; ProtobufError for kinds not handled."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf envelope")
    env = {n: v for n, _, v in _fields(body[len(MAGIC):])}
    type_meta = {n: v.decode() for n, _, v in _fields(env.get(1, b""))}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    if kind not in KINDS:
        raise ProtobufError(f"protobuf bodies of kind {kind or 'unknown'} are not supported; send JSON")
    obj = decode_message(env.get(2, b""), KINDS[kind])
    return {"apiVersion": api_version, "kind": kind, **obj}
