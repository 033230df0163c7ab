"""API errors of the rehearsal cluster, each rendering as a real ``meta/v1`` Status object."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API answers with: HTTP code, Status reason and message."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The Status object the API server would send."""
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            out["details"] = self.details
        return out


def _details(resource: str, name: str, group: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        d["group"] = group
    return d


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


class BadRequest(ApiError):
    """400: the request itself is malformed (bad selector, bad patch)."""

    code = 400
    reason = "BadRequest"


ANONYMOUS = "system:anonymous"  # the user of a request that carries no token


class Forbidden(ApiError):
    """403: the caller may not do this (used by the forbid fault)."""

    code = 403
    reason = "Forbidden"

    @classmethod
    def for_(cls, verb: str, resource: str, group: str, namespace: str | None, user: str = ANONYMOUS) -> Forbidden:
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        return cls(
            f'{_qualified(resource, group)} is forbidden: User "{user}" cannot {verb} resource '
            f'"{resource}" in API group "{group}"{where}',
            details={"kind": resource, **({"group": group} if group else {})},
        )


class NotFound(ApiError):
    """404: no such object (or no such path)."""

    code = 404
    reason = "NotFound"

    @classmethod
    def for_(cls, resource: str, name: str, group: str = "") -> NotFound:
        return cls(f'{_qualified(resource, group)} "{name}" not found', details=_details(resource, name, group))


class MethodNotAllowed(ApiError):
    """405: the verb is not supported on this path."""

    code = 405
    reason = "MethodNotAllowed"


class AlreadyExists(ApiError):
    """409: create of a name that is taken."""

    code = 409
    reason = "AlreadyExists"

    @classmethod
    def for_(cls, resource: str, name: str, group: str = "") -> AlreadyExists:
        return cls(f'{_qualified(resource, group)} "{name}" already exists', details=_details(resource, name, group))


class Conflict(ApiError):
    """409: update with a stale resourceVersion."""

    code = 409
    reason = "Conflict"

    @classmethod
    def for_(cls, resource: str, name: str, group: str = "", cause: str = "") -> Conflict:
        cause = cause or "the object has been modified; please apply your changes to the latest version and try again"
        return cls(f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {cause}',
                   details=_details(resource, name, group))

    @classmethod
    def precondition(cls, resource: str, namespace: str, name: str, group: str, what: str, wanted: str, have: str) -> Conflict:
        """A failed UID or ResourceVersion precondition, worded as the API server passes on etcd's error."""
        key = f"/registry/{resource}/{namespace}/{name}" if namespace else f"/registry/{resource}/{name}"
        return cls.for_(resource, name, group, f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, "
                                               f"AdditionalErrorMsg: Precondition failed: {what} in precondition: {wanted}, "
                                               f"{what} in object meta: {have}")


class Gone(ApiError):
    """410: the requested resourceVersion is older than the retained history."""

    code = 410
    reason = "Expired"


class UnsupportedMediaType(ApiError):
    """415: a patch type the server does not handle."""

    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    """422: the object fails validation; ``causes`` name the fields."""

    code = 422
    reason = "Invalid"

    @classmethod
    def for_(cls, kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> Invalid:
        text = ", ".join(f"{field}: {msg}" for field, msg in causes)
        if len(causes) > 1:  # an aggregate of several field errors prints as a list
            text = f"[{text}]"
        details: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
        }
        if group:
            details["group"] = group
        return cls(f'{_qualified(kind, group)} "{name}" is invalid: {text}', details=details)


class TooManyRequests(ApiError):
    """429: eviction refused (kept for disruption budgets)."""

    code = 429
    reason = "TooManyRequests"
