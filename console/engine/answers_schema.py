"""The answers file (``--answers FILE``): every prompt of a change answered in advance, for unattended rehearsals.

The models describe the file and give its JSON Schema (``opsconsole schema --answers``), so an editor can check an
answers file as it checks a runbook; ``validate_answers`` turns a loaded file into one located sentence per problem.
Answers are keyed by step ID; a list answers the same prompt again on each ask (a retried step, a refused word).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Scalar = str | int | float | bool
# The names pydantic gives the forms of a union in an error's location (not places in the file).
_BRANCH = re.compile(r"^(str|int|float|bool|list\[.*|literal\[.*|function-.*|[A-Z][A-Za-z]+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Approval(_Model):
    """An approval given when the change starts (typed approvals, for policies without signers)."""

    name: str = Field(description="Who approves.")
    role: str = Field(description="The role policy asks for, such as senior-engineer.")
    reference: str = Field(default="", description="A ticket or chat reference.")


class Emergency(_Model):
    """An emergency start: the break-glass reason and who approved it."""

    reason: str = Field(description="Why this cannot wait for the window.")
    approver: str = Field(description="Who approved the emergency.")
    role: str | None = Field(default=None, description="The approver's role; one of policy's [emergency] approver_roles "
                             "(default: the first).")


class Manual(_Model):
    """A manual step's answer."""

    answer: Literal["done", "no"] = Field(description="done, or no when it could not be done.")
    note: str = Field(default="", description="What was done, for the record.")


class ApprovalStep(_Model):
    """An approval step's answer."""

    name: str = Field(description="Who approves.")
    role: str | None = Field(default=None, description="The role; the step's own role when left out.")
    reference: str = Field(default="", description="A ticket or chat reference.")


class FailureChoice(_Model):
    """How to go on after a failed step; continue is break-glass and needs a reason and an approver."""

    choice: Literal["retry", "rollback", "continue", "abort"]
    reason: str = Field(default="", description="Break-glass: why it is safe to go on.")
    approver: str = Field(default="", description="Break-glass: who approved going on.")


class Signoff(_Model):
    name: str = Field(description="Who signs the change off.")
    role: str = Field(default="operator", description="Their role.")


class Close(_Model):
    """The close-out: outcome (auto takes the suggested one), follow-ups and sign-off."""

    outcome: Literal["auto", "success", "rolled_back", "partial", "aborted"] = "auto"
    followups: list[str] = Field(default_factory=list)
    signoff: Signoff | None = None


Choice = Literal["retry", "rollback", "continue", "abort"]


class AnswersFile(_Model):
    """An answers file: who runs the change, its parameters and approvals, and an answer per prompt by step ID."""

    operator: str | None = Field(default=None, description="Who runs the change (recorded as its operator).")
    params: dict[str, Scalar] = Field(default_factory=dict, description="Parameter values, as --param gives them.")
    approvals: list[Approval] = Field(default_factory=list, description="Approvals given at start.")
    emergency: Emergency | None = Field(default=None, description="Only for an emergency change.")
    confirm: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict, description="Per step ID: yes, or the typed word; a list is tried in order."
    )
    manual: dict[str, Manual | list[Manual]] = Field(default_factory=dict, description="Per manual step ID.")
    approve: dict[str, ApprovalStep | list[ApprovalStep]] = Field(default_factory=dict, description="Per approval step ID.")
    failure: dict[str, Choice | FailureChoice | list[Choice | FailureChoice]] = Field(
        default_factory=dict,
        description="Per step ID, how to go on after it fails. A step with on_failure: rollback needs none: "
        "it rolls back by itself.",
    )
    close: Close = Field(default_factory=Close, description="The close-out.")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of an answers file."""
    schema = AnswersFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://opsconsole.invalid/schema/answers-v1.json"
    schema["title"] = "opsconsole answers file"
    return schema


def validate_answers(data: Any, source: str) -> list[str]:
    """Every problem of a loaded answers file, each as ``SOURCE: field.path: message`` (empty when it is valid)."""
    try:
        AnswersFile.model_validate(data)
    except ValidationError as exc:
        # A union reports one error per form it tried; keep one per place, the one naming the allowed words if any.
        by_place: dict[str, str] = {}
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"] if not _BRANCH.match(str(p))) or "(top)"
            known = by_place.get(where)
            if known is None or ("Input should be '" in err["msg"] and "Input should be '" not in known):
                by_place[where] = err["msg"]
        return [f"{source}: {where}: {msg}" for where, msg in by_place.items()]
    return []
