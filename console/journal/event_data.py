"""What each journal event's ``data`` holds, as pydantic models: the writer checks an event against its model before a
byte is written (``check_data``), and the folds read typed fields (``parse_data``).

One model per event type (``MODELS``), named after it. Reading is tolerant, because journals written by earlier
versions must still read: every field has a default (the value the folds always assumed when it was missing), so a
field added later is simply absent from older events, and ``extra="allow"`` keeps fields a model does not name (a
newer writer's, or a step kind's own, such as a Terraform plan's ``summary``). An event type with no model reads as
the generic ``EventData``: a reader shows what it does not know instead of failing. Data that does not validate
(written before the writer checked, or by hand) is read as it stands, field by field, each missing field at its
default, which is how the folds read every event before they were typed.

Writing is strict: ``check_data`` validates the canonical JSON the journal will write (JSON types only, no coercion),
refuses a type with no model, and requires the fields every writer of that type gives (``REQUIRED``). It never
changes the data: the journal writes the caller's dict, so the bytes on disk are what they were before models.

Nested values stay plain dicts and lists (``FileRef`` and the other ``TypedDict`` shapes are checked, not turned into
objects): the readers pass them through to record.md, exports and screens as the journal holds them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, with_config
from typing_extensions import TypedDict

from console.journal import events as ev
from console.journal.chain import JournalError, canonical

_OPEN = ConfigDict(extra="allow")


class EventDataError(JournalError, ValueError):
    """Event data that does not match its type's model; raised before anything is written."""


class EventLike(Protocol):
    """What ``parse_data`` needs of an event: a ``journal.Event`` or anything shaped like one."""

    # Read-only, so a frozen ``Event`` fits.
    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


# -- nested shapes (validated, kept as dicts) -------------------------------------------------------------------


@with_config(_OPEN)
class FileRef(TypedDict):
    """A file under the change directory and its SHA-256 (outputs/…cast, artifacts/…)."""

    path: str
    sha256: str


# "from" is a keyword, hence the functional form. Every key optional: readers fall back to "" for each.
RunbookRef = TypedDict("RunbookRef", {
    "id": str | None, "title": str, "component": str, "from": str, "to": str, "risk": str, "path": str,
    "sha256": str | None,
}, total=False)
# Applied as a statement, not wrapped around the definition, so type checkers still see a TypedDict.
with_config(_OPEN)(RunbookRef)


@with_config(_OPEN)
class Signoff(TypedDict, total=False):
    name: str
    role: str


# -- the models ---------------------------------------------------------------------------------------------------


class EventData(BaseModel):
    """The data of any event: the generic model, for types this version does not know."""

    model_config = _OPEN
    # Fields every writer of this type gives; checked on write only (older journals may lack later fields).
    REQUIRED: ClassVar[tuple[str, ...]] = ()


class StepEventData(EventData):
    """An event about one step in its section (the plan's, a rollback's, or ``evidence`` at close-out)."""

    section: str = "step"
    step_id: str | None = None  # None: the event names no step (an approval given at start)
    REQUIRED: ClassVar[tuple[str, ...]] = ("section", "step_id")


class ChangeCreated(EventData):
    change_id: str = ""
    runbook: RunbookRef = Field(default_factory=RunbookRef)
    file: FileRef | None = None  # the redacted copy of the runbook that resume runs from
    environment: str = ""
    context: str = ""
    operator: str = ""
    description: str | None = ""
    scope: str | None = ""
    blast_radius: str | None = ""
    emergency: bool = False
    host: str = ""
    # Which cluster the context reached at start (server URL, CA's SHA-256): a resume through a kubeconfig whose
    # context of that name reaches another is refused. Absent in records from before it was kept.
    cluster: dict[str, str] | None = None
    REQUIRED = ("change_id", "runbook", "environment", "context", "operator")


class ParamsSet(EventData):
    params: dict[str, Any] = Field(default_factory=dict)
    # A salted scrypt of each secret parameter's value (shown masked in params): a resume given another value is refused.
    value_checks: dict[str, dict[str, str]] | None = None
    REQUIRED = ("params",)


class PolicyChecked(EventData):
    checks: list[dict[str, Any]] = Field(default_factory=list)
    policy_sha256: str | None = None  # absent in journals written before the policy's hash was recorded
    allowed_signers: FileRef | None = None
    REQUIRED = ("checks",)


class ApprovalRequested(EventData):
    """The change waits for signed approvals of ``request`` (nothing runs until ``approval.verified``)."""

    request: FileRef | None = None
    policy_sha256: str = ""
    allowed_signers: FileRef | None = None
    required: dict[str, int] = Field(default_factory=dict)
    ttl_s: int = 0
    REQUIRED = ("request", "policy_sha256", "allowed_signers", "required", "ttl_s")


class ApprovalVerified(EventData):
    """The signed approvals the change started on, verified against the recorded allowed-signers file."""

    request: FileRef | None = None
    policy_sha256: str = ""
    allowed_signers: FileRef | None = None
    required: dict[str, int] = Field(default_factory=dict)
    accepted: list[dict[str, Any]] = Field(default_factory=list)
    REQUIRED = ("request", "policy_sha256", "allowed_signers", "required", "accepted")


class ApprovalOwed(ApprovalRequested):
    """An emergency started without waiting for the signed approvals of ``request``: they are owed after the fact."""


class SignatureRetroApproval(EventData):
    """An emergency's owed approval: the approval file, verified against the recorded request when it was added."""

    principal: str = ""
    role: str = ""
    signed_at: str = ""
    key_fingerprint: str = ""
    file: FileRef | None = None
    request: FileRef | None = None
    REQUIRED = ("principal", "role", "signed_at", "key_fingerprint", "file", "request")


class SignatureCloseout(EventData):
    """The operator's SSH signature over the closed journal's head hash."""

    principal: str = ""
    head: str = ""
    signed_at: str = ""
    key_fingerprint: str = ""
    statement: str = ""
    signature: str = ""
    REQUIRED = ("principal", "head", "signed_at", "key_fingerprint", "statement", "signature")


class ApprovalRecorded(StepEventData):
    name: str = ""
    role: str = ""
    reference: str | None = ""
    REQUIRED = ("name", "role")


class BreakglassRecorded(EventData):
    reason: str | None = ""
    approver: str | None = ""
    what: str = ""
    step_id: str | None = None
    failure: str | None = None
    approver_role: str | None = None  # an emergency start: the role of who approved it (policy's emergency roles)
    approval: str | None = None  # "verbal" for an emergency's fast-track approval
    REQUIRED = ("reason", "approver", "what")


class SessionResumed(EventData):
    operator: str = ""
    host: str = ""
    pid: int | None = None
    REQUIRED = ("operator",)


class StepConfirmed(StepEventData):
    method: str = ""  # yes | typed
    word: str | None = None
    by: str = ""
    REQUIRED = ("section", "step_id", "method")


class StepConfirmationRefused(StepEventData):
    typed: str = ""
    by: str = ""
    REQUIRED = ("section", "step_id", "typed")


class StepStarted(StepEventData):
    title: str = ""
    kind: str = ""
    command: str = ""
    argv: list[str] = Field(default_factory=list)
    namespace: str | None = None
    target: str | None = None
    attempt: int = 1
    # A step with retry: which try of how many ({"try": 2, "of": 5, "interval_s": 10}).
    retry: dict[str, Any] | None = None
    # Declared durations and the rehearsal clock's factor: {"declared": {...}, "factor": 4.0, "scaled": {...}}.
    timing: dict[str, Any] | None = None
    REQUIRED = ("section", "step_id", "kind", "command", "attempt")


class StepFinished(StepEventData):
    status: Literal["passed", "failed"] = "failed"
    exit_code: int | None = None
    duration_s: float | int | None = None  # int stays int: a reader shows what was written
    process_s: float | int | None = None
    reason: str | None = ""
    lines: int | None = None
    file: FileRef | None = None
    trigger: dict[str, Any] | None = None
    retrying: bool = False  # a failed try of a step with retry that another try follows: not the step's failure
    REQUIRED = ("section", "step_id", "status")


class StepSkipped(StepEventData):
    reason: str = ""
    when: dict[str, Any] | None = None
    REQUIRED = ("section", "step_id", "reason")


class StepInterrupted(StepEventData):
    reason: str | None = ""
    file: FileRef | None = None  # the partial output of the run the console died in
    files: list[FileRef] | None = None
    REQUIRED = ("section", "step_id", "reason")


class ManualAnswered(StepEventData):
    answer: str | None = None  # done | no
    note: str | None = None
    by: str = ""
    REQUIRED = ("section", "step_id", "answer")


class NoteAdded(EventData):
    step_id: str | None = None
    text: str = ""
    author: str = ""
    REQUIRED = ("text", "author")


class ArtifactSaved(StepEventData):
    kind: str = ""
    description: str | None = ""
    file: FileRef | None = None
    files: list[FileRef] | None = None
    # Close-out evidence pointing at a step's output: which step, which run of it, or why nothing was kept.
    from_step: str | None = None
    attempt: int = 1
    status: str = "?"
    missing: str | None = None
    REQUIRED = ("section", "step_id")


class FailureChoice(StepEventData):
    choice: Literal["retry", "rollback", "continue", "abort"] | None = None
    by: str = ""
    automatic: bool = False
    countdown_s: float | int | None = None
    REQUIRED = ("section", "step_id", "choice", "by")


class FailureHeld(StepEventData):
    by: str = ""
    REQUIRED = ("section", "step_id", "by")


class RollbackStarted(EventData):
    reason: str = ""
    steps: list[str] = Field(default_factory=list)
    automatic: bool = False
    REQUIRED = ("reason", "steps")


class RollbackFinished(EventData):
    status: Literal["done", "failed"] | None = None
    failed_step: str | None = None
    REQUIRED = ("status",)


class TriggerFired(EventData):
    trigger: str = ""
    object: str = ""
    message: str = ""
    REQUIRED = ("trigger", "object", "message")


class EscalationPassed(EventData):
    level: str = ""
    minutes: int | float | None = None
    step_id: str | None = None
    failed_at: str | None = None
    REQUIRED = ("level", "minutes")


class EscalationNotified(EventData):
    level: str = ""
    step_id: str | None = None
    failed_at: str | None = None
    argv: list[str] = Field(default_factory=list)
    exit_code: int | None = None
    output: str = ""
    error: str | None = None
    REQUIRED = ("level", "argv", "exit_code")


class ClusterSnapshot(EventData):
    when: str = "?"  # before | after
    summary: dict[str, Any] = Field(default_factory=dict)
    REQUIRED = ("when", "summary")


class LockAcquired(EventData):
    lease: str = ""
    holder: str = ""
    scope: str = "cluster"
    duration_s: int = 0
    acquired: str | None = None
    transitions: int = 0
    uid: str = ""
    resumed: bool = False
    displaced: dict[str, Any] | None = None
    break_glass: bool = False
    REQUIRED = ("lease", "holder", "scope", "duration_s")


class LockLost(EventData):
    lease: str = ""
    holder: str = ""
    change: str = ""
    step: str = ""
    reason: str = ""
    detected: Literal["renewal", "resume"] = "renewal"
    message: str = ""
    REQUIRED = ("lease", "holder", "detected", "message")


class LockUnreachable(EventData):
    lease: str = ""
    message: str = ""
    lease_expired: bool = False
    REQUIRED = ("lease", "message")


class LockRestored(EventData):
    lease: str = ""
    REQUIRED = ("lease",)


class LockPaused(EventData):
    step_id: str = ""
    message: str = ""
    REQUIRED = ("step_id", "message")


class LockReleased(EventData):
    lease: str = ""
    released: bool = True
    REQUIRED = ("lease", "released")


class ChangeClosed(EventData):
    outcome: Literal["success", "rolled_back", "partial", "aborted"] | None = None
    suggested: str | None = None
    followups: list[str] = Field(default_factory=list)
    signoff: Signoff | None = Field(default_factory=Signoff)
    REQUIRED = ("outcome",)


class AddendumAdded(EventData):
    author: str = ""
    kind: str = ""  # correction | follow-up | post-mortem
    text: str = ""
    refers_to: int | None = None
    REQUIRED = ("author", "kind", "text", "refers_to")


class ChangeAliased(EventData):
    team_id: str = ""
    provisional_id: str = ""
    by: str = ""
    REQUIRED = ("team_id", "provisional_id")


class TornTail(EventData):
    line: int = 0
    sha256: str = ""
    bytes_b64: str = ""
    length: int = 0
    REQUIRED = ("line", "sha256", "bytes_b64", "length")


class NewlineRestored(EventData):
    line: int = 0
    seq: int = 0
    REQUIRED = ("line", "seq")


@with_config(_OPEN)
class RefusedRunbook(TypedDict):
    id: str | None
    path: str
    sha256: str | None


class ChangeRefused(EventData):
    """A start refused before the change existed (the refused-start log, ``audit.py``)."""

    operator: str = ""
    host: str = ""
    runbook: RefusedRunbook | None = None
    environment: str = ""
    context: str = ""
    reason: str = ""
    verdicts: list[dict[str, Any]] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    approvals: list[dict[str, Any]] = Field(default_factory=list)
    emergency: bool = False
    REQUIRED = ("operator", "host", "runbook", "environment", "context", "reason")


MODELS: dict[str, type[EventData]] = {
    ev.CHANGE_CREATED: ChangeCreated,
    ev.PARAMS_SET: ParamsSet,
    ev.POLICY_CHECKED: PolicyChecked,
    ev.APPROVAL_RECORDED: ApprovalRecorded,
    ev.APPROVAL_REQUESTED: ApprovalRequested,
    ev.APPROVAL_VERIFIED: ApprovalVerified,
    ev.APPROVAL_OWED: ApprovalOwed,
    ev.SIGNATURE_CLOSEOUT: SignatureCloseout,
    ev.SIGNATURE_RETRO_APPROVAL: SignatureRetroApproval,
    ev.BREAKGLASS_RECORDED: BreakglassRecorded,
    ev.SESSION_RESUMED: SessionResumed,
    ev.STEP_CONFIRMED: StepConfirmed,
    ev.STEP_CONFIRMATION_REFUSED: StepConfirmationRefused,
    ev.STEP_STARTED: StepStarted,
    ev.STEP_FINISHED: StepFinished,
    ev.STEP_INTERRUPTED: StepInterrupted,
    ev.STEP_SKIPPED: StepSkipped,
    ev.MANUAL_ANSWERED: ManualAnswered,
    ev.NOTE_ADDED: NoteAdded,
    ev.ARTIFACT_SAVED: ArtifactSaved,
    ev.FAILURE_CHOICE: FailureChoice,
    ev.FAILURE_HELD: FailureHeld,
    ev.ROLLBACK_STARTED: RollbackStarted,
    ev.ROLLBACK_FINISHED: RollbackFinished,
    ev.TRIGGER_FIRED: TriggerFired,
    ev.ESCALATION_PASSED: EscalationPassed,
    ev.ESCALATION_NOTIFIED: EscalationNotified,
    ev.CLUSTER_SNAPSHOT: ClusterSnapshot,
    ev.CHANGE_CLOSED: ChangeClosed,
    ev.LOCK_ACQUIRED: LockAcquired,
    ev.LOCK_LOST: LockLost,
    ev.LOCK_UNREACHABLE: LockUnreachable,
    ev.LOCK_RESTORED: LockRestored,
    ev.LOCK_PAUSED: LockPaused,
    ev.LOCK_RELEASED: LockReleased,
    ev.ADDENDUM_ADDED: AddendumAdded,
    ev.CHANGE_ALIASED: ChangeAliased,
    ev.TORN_TAIL: TornTail,
    ev.NEWLINE_RESTORED: NewlineRestored,
    ev.CHANGE_REFUSED: ChangeRefused,
}


# -- reading and writing ------------------------------------------------------------------------------------------


def parse_data(event: EventLike) -> EventData:
    """The typed data of ``event``: its type's model (``EventData`` for a type with no model), never an error."""
    # Validated, so a fold can trust the types: about 4 us an event, beside about 47 us to read and verify its line.
    # model_construct would skip the checks yet costs more (it fills each field in Python), so it is kept for data
    # that does not validate.
    model = MODELS.get(event.type, EventData)
    try:
        return model.model_validate(event.data)
    except ValidationError:
        # Written before the writer checked (or by hand): read as it stands, each missing field at its default,
        # as the folds read every event before they were typed. The chain, not the model, says whether it is intact.
        return model.model_construct(**event.data)


def check_data(type: str, data: dict[str, Any]) -> EventData:
    """Check event data before it is written; raises ``EventDataError`` naming the type and the field.

    Validates the canonical JSON the journal writes (so a tuple is a list, as on disk, and nothing is coerced) and
    returns the model; the caller still writes ``data`` itself, unchanged.
    """
    model = MODELS.get(type)
    if model is None:
        raise EventDataError(f"{type!r} is not an event type of the journal (events.py names them all)")
    if not isinstance(data, dict):
        raise EventDataError(f"{type} event data must be a JSON object, not {data.__class__.__name__}")
    missing = [name for name in model.REQUIRED if name not in data]
    if missing:
        raise EventDataError(f"{type} event data lacks {', '.join(missing)}")
    try:
        return model.model_validate_json(canonical(data), strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        # A union's member type shows in the location ("duration_s.float"): the field's path is what helps.
        where = ".".join(str(part) for part in first["loc"] if part not in _MEMBER_TAGS) or "data"
        given = repr(first["input"])
        # A long value is not cut to fit: a cut can leave the start of a secret too short for the redactor to know
        # (or half a mask), and this message goes where nothing redacts it. Its type and size say enough.
        given = given if len(given) <= 80 else f"a {first['input'].__class__.__name__} of {len(given)} characters"
        raise EventDataError(f"{type} event data: {where}: {first['msg']} (given {given})") from None


_MEMBER_TAGS = frozenset({"str", "int", "float", "bool"})
