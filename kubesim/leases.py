"""What the API server does to a Lease (coordination.k8s.io/v1) on its way in: decoding and validation (pure).

A Lease's ``acquireTime`` and ``renewTime`` are MicroTimes. The API server decodes them with Go's
``time.Parse`` and the layout ``2006-01-02T15:04:05.000000Z07:00``, which demands exactly six fractional digits,
and writes them back in UTC with a trailing ``Z``. A client that sends what Python's ``datetime.isoformat()``
makes of a whole second (``...T10:00:00+00:00``) is refused with 400, so the rehearsal cluster refuses it too.
Validation follows Kubernetes' pkg/apis/coordination/validation (``ValidateLeaseSpec``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from kubesim.errors import BadRequest

Obj = dict[str, Any]
MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
MICRO_TIMES = ("acquireTime", "renewTime")
INT32_FIELDS = ("leaseDurationSeconds", "leaseTransitions")
STRING_FIELDS = ("holderIdentity", "strategy", "preferredHolder")
STRATEGIES = ("OldestEmulationVersion",)

_STAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})")
_FRACTION = re.compile(r"\.(\d{6})")
_ZONE = re.compile(r"Z|([+-])(\d{2}):(\d{2})")


class DecodeError(ValueError):
    """A body the API server's decoder refuses (a mistyped field, a MicroTime Go cannot parse); the message is Go's."""


def _go_type(value: Any) -> str:
    """The JSON type name Go's decoder puts in its 'cannot unmarshal' messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def parse_micro_time(text: str) -> datetime:
    """Parse as Go parses with the MicroTime layout; DecodeError worded as Go's ParseError."""
    head = f'parsing time "{text}" as "{MICRO_LAYOUT}": cannot parse'
    m = _STAMP.match(text)
    if m is None:
        raise DecodeError(f'{head} "{text}" as "2006"')
    rest = text[m.end():]
    f = _FRACTION.match(rest)
    if f is None:
        raise DecodeError(f'{head} "{rest}" as ".000000"')
    rest = rest[f.end():]
    z = _ZONE.match(rest)
    if z is None:
        raise DecodeError(f'{head} "{rest}" as "Z07:00"')
    extra = rest[z.end():]
    if extra:
        raise DecodeError(f'parsing time "{text}": extra text: "{extra}"')
    offset = UTC
    if z.group(1):
        delta = timedelta(hours=int(z.group(2)), minutes=int(z.group(3)))
        offset = timezone(delta if z.group(1) == "+" else -delta)
    try:
        year, month, day, hour, minute, second = (int(g) for g in m.groups())
        return datetime(year, month, day, hour, minute, second, int(f.group(1)), tzinfo=offset)
    except ValueError as e:
        raise DecodeError(f'parsing time "{text}": {e}') from None


def format_micro_time(t: datetime) -> str:
    """How the API server writes a MicroTime: UTC, six fractional digits, ``Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decode(body: Obj) -> None:
    """Check the spec's field types and canonicalise its MicroTimes (mutates ``body``); BadRequest as the server's decoder."""
    spec = body.get("spec")
    if spec is None:
        return
    try:
        if not isinstance(spec, dict):
            raise DecodeError(f"json: cannot unmarshal {_go_type(spec)} into Go struct field Lease.spec of type v1.LeaseSpec")
        for key in INT32_FIELDS:
            v = spec.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not -2**31 <= v < 2**31):
                shown = f"number {v}" if isinstance(v, (int, float)) and not isinstance(v, bool) else _go_type(v)
                raise DecodeError(f"json: cannot unmarshal {shown} into Go struct field LeaseSpec.spec.{key} of type int32")
        for key in STRING_FIELDS + MICRO_TIMES:
            v = spec.get(key)
            if v is not None and not isinstance(v, str):
                raise DecodeError(f"json: cannot unmarshal {_go_type(v)} into Go struct field LeaseSpec.spec.{key} of type string")
        for key in MICRO_TIMES:
            if spec.get(key) is not None:
                spec[key] = format_micro_time(parse_micro_time(spec[key]))
    except DecodeError as e:
        raise BadRequest(f'Lease in version "v1" cannot be handled as a Lease: {e}') from None


def spec_causes(spec: Obj) -> list[tuple[str, str]]:
    """Field errors of a decoded LeaseSpec, in ValidateLeaseSpec's order."""
    causes: list[tuple[str, str]] = []
    duration, transitions = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
    if duration is not None and duration <= 0:
        causes.append(("spec.leaseDurationSeconds", f"Invalid value: {duration}: must be greater than 0"))
    if transitions is not None and transitions < 0:
        causes.append(("spec.leaseTransitions", f"Invalid value: {transitions}: must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy is not None and "/" not in strategy and strategy not in STRATEGIES:
        # the doubled path is upstream's: the child is added once by the caller and once inside
        causes.append(("spec.strategy.strategy", f'Unsupported value: "{strategy}": supported values: '
                                                 + ", ".join(f'"{s}"' for s in STRATEGIES)))
    if spec.get("preferredHolder") and not strategy:
        causes.append(("spec.preferredHolder", "Forbidden: may only be specified if `strategy` is defined"))
    return causes
