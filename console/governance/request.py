"""The start request: the one document an approver signs, naming exactly what will run, where, by whom and when.

A change is approved on this document and nothing else: its change ID, the runbook's ID and SHA-256, the
parameters (secret ones as ``[REDACTED]``), the operator, the environment and kube context, from and to, the
policy file's SHA-256, the bound plan (every step with its displayed command, namespace and target), a preflight
block the caller fills in (``kubectl auth can-i`` answers, tool and server versions), a nonce and the creation
time. Its bytes are canonical JSON (sorted keys, no whitespace, UTF-8), so the same request always has the same
SHA-256 and a signature over that digest covers every field.

Pure: no clock, no randomness, no files. The caller passes ``created_at`` and the nonce
(``console.governance.signatures.new_nonce``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.errors import OpsConsoleError

FORMAT = "opsconsole-start-request/1"
REDACTED = "[REDACTED]"
# The order in which two requests are compared when naming what differs: identity first (a replay from another
# change shows as its change ID), then what runs and where, then the evidence gathered, then the freshness fields.
FIELD_ORDER = (
    "change_id", "runbook", "operator", "environment", "context", "from", "to", "parameters", "policy_sha256",
    "plan", "preflight", "created_at", "nonce", "format",
)
PLAN_FIELDS = ("section", "step_id", "kind", "command", "namespace", "target")
# A secret shorter than this would match inside ordinary words; the redactor elsewhere has the same floor.
_MIN_SECRET_LEN = 4
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NONCE = re.compile(r"^[0-9a-f]{32,128}$")
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"

# The request's own encoder, kept here rather than shared with the journal: a signed format must not change
# because another format did.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class RequestError(OpsConsoleError, ValueError):
    """A start request cannot be built or read; the message is one sentence naming the field."""


def canonical(obj: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN or Infinity: the only bytes this package signs or hashes."""
    return _ENCODER.encode(obj).encode("utf-8")


def utc_text(dt: datetime) -> str:
    """``2026-11-21T23:20:55.123456Z``; a naive datetime is refused because its zone would be a guess."""
    if dt.tzinfo is None:
        raise RequestError("a time in a signed document must be timezone-aware")
    return dt.astimezone(UTC).strftime(_TS)


def parse_utc(text: str, where: str) -> datetime:
    """The inverse of :func:`utc_text`; ``where`` names the field in the error."""
    try:
        return datetime.strptime(text, _TS).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise RequestError(f"{where} must be a UTC time like 2026-11-21T23:20:55.000000Z, not {text!r}") from None


@dataclass(frozen=True)
class PlanEntry:
    """One bound step as the approver sees it: where it sits, what it is, the command as displayed, where it acts."""

    section: str
    step_id: str
    kind: str
    command: str
    namespace: str
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PLAN_FIELDS}


@dataclass(frozen=True)
class StartRequest:
    """A parsed, validated start request; :func:`to_bytes` gives its canonical bytes."""

    change_id: str
    runbook_id: str
    runbook_sha256: str
    parameters: Mapping[str, str]
    operator: str
    environment: str
    context: str
    from_version: str
    to_version: str
    policy_sha256: str
    plan: tuple[PlanEntry, ...]
    preflight: Mapping[str, Any]
    nonce: str
    created_at: datetime
    format: str = field(default=FORMAT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "change_id": self.change_id,
            "runbook": {"id": self.runbook_id, "sha256": self.runbook_sha256},
            "parameters": dict(self.parameters),
            "operator": self.operator,
            "environment": self.environment,
            "context": self.context,
            "from": self.from_version,
            "to": self.to_version,
            "policy_sha256": self.policy_sha256,
            "plan": [entry.to_dict() for entry in self.plan],
            "preflight": _plain(self.preflight),
            "nonce": self.nonce,
            "created_at": utc_text(self.created_at),
        }


def build(
    *,
    change_id: str,
    runbook_id: str,
    runbook_sha256: str,
    parameters: Mapping[str, str],
    operator: str,
    environment: str,
    context: str,
    from_version: str,
    to_version: str,
    policy_sha256: str,
    plan: Iterable[PlanEntry | Mapping[str, Any]],
    preflight: Mapping[str, Any],
    nonce: str,
    created_at: datetime,
    secret_parameters: Iterable[str] = (),
) -> StartRequest:
    """A validated request; secret parameters' values are replaced by ``[REDACTED]`` and must appear nowhere else.

    Raises :class:`RequestError` (one sentence) for a missing or malformed field, or a secret value that shows
    in the plan or the preflight block (the approver would see it, and the request is kept in the record).
    """
    if not isinstance(created_at, datetime) or created_at.tzinfo is None:
        raise RequestError("the start request's created_at must be a timezone-aware datetime")
    secret = set(secret_parameters)
    shown = {str(k): (REDACTED if k in secret else v) for k, v in parameters.items()}
    entries = tuple(_plan_entry(e, i) for i, e in enumerate(plan))
    request = StartRequest(
        change_id=change_id, runbook_id=runbook_id, runbook_sha256=runbook_sha256, parameters=shown,
        operator=operator, environment=environment, context=context, from_version=from_version,
        to_version=to_version, policy_sha256=policy_sha256, plan=entries, preflight=dict(preflight),
        nonce=nonce, created_at=created_at,
    )
    # Validate through the same reader every consumer uses, so build and from_bytes cannot disagree.
    try:
        data = canonical(request.to_dict())
    except (TypeError, ValueError) as exc:
        raise RequestError(f"the start request cannot be written as JSON: {exc}") from None
    checked = from_bytes(data)
    text = data.decode("utf-8")
    for name in sorted(secret):
        value = parameters.get(name)
        if value is None or len(value) < _MIN_SECRET_LEN:
            continue
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        if value in text or escaped in text:
            where = first_place(checked.to_dict(), value)
            raise RequestError(f"the secret parameter {name!r} appears in {where}; redact it before the request is built")
    return checked


def to_bytes(request: StartRequest) -> bytes:
    """The canonical bytes: what is hashed, signed and kept."""
    return canonical(request.to_dict())


def digest(request: StartRequest | bytes) -> str:
    """SHA-256 hex of the canonical bytes (of ``request`` itself when given bytes)."""
    data = request if isinstance(request, bytes) else to_bytes(request)
    return hashlib.sha256(data).hexdigest()


def from_bytes(data: bytes) -> StartRequest:
    """Parse and validate; the bytes must be exactly canonical, so a digest names one request and only one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the start request is not UTF-8 (byte {exc.start})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"the start request is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise RequestError("the start request must be a JSON object")
    _fields(obj, FIELD_ORDER, "the start request")
    if obj["format"] != FORMAT:
        raise RequestError(f"the start request's format is {obj['format']!r}, not {FORMAT!r}")
    for name in ("change_id", "operator", "environment", "context", "from", "to", "nonce", "created_at"):
        _text(obj[name], name)
    runbook = obj["runbook"]
    if not isinstance(runbook, dict):
        raise RequestError("the start request's runbook must be an object with id and sha256")
    _fields(runbook, ("id", "sha256"), "the start request's runbook")
    _text(runbook["id"], "runbook.id")
    _sha256(runbook["sha256"], "runbook.sha256")
    _sha256(obj["policy_sha256"], "policy_sha256")
    if not _NONCE.match(obj["nonce"]):
        raise RequestError("the start request's nonce must be 32 to 128 lowercase hex digits")
    params = obj["parameters"]
    if not isinstance(params, dict):
        raise RequestError("the start request's parameters must be an object of names to text")
    for key, value in params.items():
        if not isinstance(value, str):
            raise RequestError(f"the start request's parameters.{key} must be text, not {type(value).__name__}")
    plan = obj["plan"]
    if not isinstance(plan, list):
        raise RequestError("the start request's plan must be a list of steps")
    if not isinstance(obj["preflight"], dict):
        raise RequestError("the start request's preflight must be an object")
    request = StartRequest(
        change_id=obj["change_id"], runbook_id=runbook["id"], runbook_sha256=runbook["sha256"],
        parameters=params, operator=obj["operator"], environment=obj["environment"], context=obj["context"],
        from_version=obj["from"], to_version=obj["to"], policy_sha256=obj["policy_sha256"],
        plan=tuple(_plan_entry(e, i) for i, e in enumerate(plan)), preflight=obj["preflight"],
        nonce=obj["nonce"], created_at=parse_utc(obj["created_at"], "the start request's created_at"),
    )
    if to_bytes(request) != data:
        raise RequestError("the start request is not in canonical form (sorted keys, no spaces, UTF-8, times in UTC)")
    return request


@dataclass(frozen=True)
class Difference:
    """The first field where two requests differ, with both values as short text."""

    path: str
    signed: str
    current: str

    def sentence(self) -> str:
        return f"its {self.path} is {self.signed}, this request's is {self.current}"


def first_difference(signed: StartRequest, current: StartRequest) -> Difference | None:
    """The first field (in :data:`FIELD_ORDER`, then key or index order) where ``signed`` and ``current`` differ."""
    a, b = signed.to_dict(), current.to_dict()
    for name in FIELD_ORDER:
        found = _diff(a.get(name), b.get(name), name)
        if found is not None:
            return found
    return None


def first_place(obj: Any, needle: str, path: str = "") -> str:
    """The path of the first string inside ``obj`` that contains ``needle`` (keys included), for error messages."""
    if isinstance(obj, dict):
        for key in sorted(obj):
            sub = f"{path}.{key}" if path else str(key)
            if needle in str(key):
                return sub
            found = first_place(obj[key], needle, sub)
            if found:
                return found
        return ""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            found = first_place(item, needle, f"{path}[{i}]")
            if found:
                return found
        return ""
    return path if isinstance(obj, str) and needle in obj else ""


def _diff(a: Any, b: Any, path: str) -> Difference | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _diff(a.get(key, _ABSENT), b.get(key, _ABSENT), f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            found = _diff(a[i] if i < len(a) else _ABSENT, b[i] if i < len(b) else _ABSENT, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if type(a) is type(b) and a == b:
        return None
    return Difference(path, _short(a), _short(b))


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT = _Absent()


SHORT_LEN = 80  # a SHA-256 (66 characters quoted) is shown whole
# The end of a run of characters a token, a key or a mask is made of: a cut inside one drops it whole.
_WORD_TAIL = re.compile(r"[\w\[+/=.:@%~-]+$")


def _short(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if not isinstance(value, str) else repr(value)
    if len(text) <= SHORT_LEN:
        return text
    # Nothing here can tell a secret from a word, and what is cut off can no longer be recognised by the redaction
    # downstream: a word the cut goes through (a token's start, half a mask) is left out entirely (fail closed).
    head = text[: SHORT_LEN - 3]
    if _WORD_TAIL.search(text[SHORT_LEN - 3]):
        head = _WORD_TAIL.sub("", head)
    return head + "..."


def _plan_entry(entry: PlanEntry | Mapping[str, Any], index: int) -> PlanEntry:
    where = f"plan[{index}]"
    if isinstance(entry, PlanEntry):
        entry = entry.to_dict()
    if not isinstance(entry, Mapping):
        raise RequestError(f"the start request's {where} must be an object")
    _fields(entry, PLAN_FIELDS, f"the start request's {where}")
    for name in ("section", "step_id", "kind", "namespace"):
        _text(entry[name], f"{where}.{name}")
    if not isinstance(entry["command"], str):
        raise RequestError(f"the start request's {where}.command must be text")
    if entry["target"] is not None and not isinstance(entry["target"], str):
        raise RequestError(f"the start request's {where}.target must be text or null")
    return PlanEntry(**{name: entry[name] for name in PLAN_FIELDS})


def _fields(obj: Mapping[str, Any], expected: Sequence[str], what: str) -> None:
    for name in expected:
        if name not in obj:
            raise RequestError(f"{what} lacks {name!r}")
    for name in obj:
        if name not in expected:
            raise RequestError(f"{what} has an unknown field {name!r}")


def _text(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"the start request's {name} must be non-empty text")


def _sha256(value: Any, name: str) -> None:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise RequestError(f"the start request's {name} must be a SHA-256 as 64 lowercase hex digits")


def _plain(value: Any) -> Any:
    """Mappings and sequences as dicts and lists, so any mapping the caller passes encodes the same way."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
