"""The policy file, ``opsconsole.toml``, as pydantic models: every key has a documented default.

Looked up in order: an explicit path (``--config`` or ``OPSCONSOLE_CONFIG``), ``./opsconsole.toml``, then
``$XDG_CONFIG_HOME/opsconsole/opsconsole.toml`` (``~/.config/...``). With none, the defaults below apply: a
``rehearsal`` environment mapped to the rehearsal cluster's contexts, and ``staging`` and ``production``
environments that map to no context at all, so nothing can reach a real cluster until policy says which.

```toml
records_dir = "records"

[environments.production]
contexts = ["prod-eu-1"]
production = true          # typing the context name is required to start; red frame in the UI
requires = ["staging"]     # promotion order: the same runbook must have reached the same version there first
rehearsed_rollback = true  # high/critical changes need a rehearsal record whose rollback finished (opsconsole rehearse)

[approvals]                # roles whose approval a change of each risk needs
medium = ["senior-engineer"]

[windows.high]             # when changes of a risk may start (UTC unless tz is given)
days = ["tue", "wed", "thu"]
start = "22:00"
end = "04:00"

[limits]
max_changes_per_day = 3
min_hours_between_high = 4
stability_hours_after_high = 24

[store]                    # a record store shared by the team through git (optional)
remote = "git@git.example.com:ops/records.git"
offline_ids = "provisional" # remote unreachable at start: "provisional" (CHG-2026-P0001.host) or "refuse"

[escalation]               # minutes after a failure
manual_rollback = 5
senior = 15
leadership = 30

[escalation.notify]        # run (no shell) when a deadline passes; the output is recorded
senior = ["pagerctl", "page", "--team", "platform", "--summary", "{change_id}: {step_id} failed at {failed_at}"]

[emergency]                # the fast track: approved verbally by one of these roles, a post-mortem owed after
approver_roles = ["engineering-manager"]
post_mortem_hours = 24

[rollback]                 # a step with on_failure: rollback rolls back by itself after this countdown
countdown_s = 10

[redaction]
patterns = ["(?i)(x-api-key:\\s*)\\S+"]

[signatures]               # signed approvals: roles then count only as SSH signatures by their holders
allowed_signers = "allowed_signers"    # OpenSSH allowed-signers file (roles as role:NAME principals)
approval_ttl = "4h"
[signatures.require.production]        # per environment ("*": any), per risk: role = how many distinct people
medium = {senior-engineer = 1}
high = {engineering-manager = 1, security = 2}

[lock]                     # the Lease a change holds on the cluster it acts on
scope = "cluster"          # or "namespaces": one Lease in each namespace the change touches
duration_s = 15            # it expires this long after the last renewal (a console that died)
namespace = "default"      # where the cluster-wide Lease lives
```
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from console.errors import OpsConsoleError

CONFIG_NAME = "opsconsole.toml"
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RiskLevel = Literal["low", "medium", "high", "critical"]
RISK_LEVELS: tuple[RiskLevel, ...] = ("low", "medium", "high", "critical")


class ConfigError(OpsConsoleError, ValueError):
    """The policy file cannot be read or says something invalid; the message names the file and the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Environment(_Model):
    """An environment a change names, and the kube contexts that may act on it."""

    contexts: list[str] = Field(default_factory=list)
    production: bool = False
    rehearsal: bool = False  # unattended runs (--answers) are allowed only here; windows and limits do not apply
    # Promotion order: a change starts here only after the same runbook reached the same version on each of these.
    requires: list[str] = Field(default_factory=list)
    # On a production environment, a high- or critical-risk change needs a rehearsal record whose rollback finished.
    rehearsed_rollback: bool = True
    # A rehearsal environment is exempt from windows and limits unless it opts in, so an emergency's break-glass
    # can be rehearsed unattended (--answers) exactly as production would ask for it.
    enforce_windows: bool = False


class Window(_Model):
    """When changes of one risk level may start."""

    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    start: str = "00:00"
    end: str = "24:00"
    tz: str = "UTC"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", value):
            raise ValueError(f"{value!r} is not a time of day HH:MM")
        return value


class Limits(_Model):
    """Frequency limits, counted from the changes already in the record store."""

    max_changes_per_day: int = 3
    min_hours_between_high: float = 4
    stability_hours_after_high: float = 24


class Store(_Model):
    """Where the record store is shared: a git remote, and what a start does when it cannot be reached."""

    remote: str | None = None
    offline_ids: Literal["provisional", "refuse"] = "provisional"


ESCALATION_KEYS = ("manual_rollback", "senior", "leadership")
NOTIFY_FIELDS = ("change_id", "step_id", "level", "minutes", "deadline", "environment", "operator", "failed_at")


class Emergency(_Model):
    """SOP-005's fast track: who may approve an emergency (verbally, recorded by name) and what it owes after."""

    approver_roles: list[str] = Field(default_factory=lambda: ["engineering-manager"])
    post_mortem_hours: float = Field(default=24, gt=0)


class Escalation(_Model):
    """Minutes after a failure at which each escalation is due, and the command that tells someone, per level.

    ``notify.senior = ["pagerctl", "page", "--team", "platform", "--summary", "{change_id} {step_id} failed"]``:
    run without a shell when that deadline passes; ``{change_id}``, ``{step_id}``, ``{level}``, ``{minutes}``,
    ``{deadline}``, ``{environment}``, ``{operator}`` and ``{failed_at}`` are filled in.
    """

    manual_rollback: int = 5
    senior: int = 15
    leadership: int = 30
    notify: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("notify")
    @classmethod
    def _known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for level, argv in value.items():
            if level not in ESCALATION_KEYS:
                raise ValueError(f"notify.{level}: no such escalation level (one of {', '.join(ESCALATION_KEYS)})")
            if not argv or not argv[0].strip():
                raise ValueError(f"notify.{level}: give the command as a list, program first")
            for word in argv:
                for name in re.findall(r"\{([^{}]*)\}", word):
                    if name not in NOTIFY_FIELDS:
                        raise ValueError(f"notify.{level}: {{{name}}} is not one of {', '.join('{' + f + '}' for f in NOTIFY_FIELDS)}")
        return value


class Rollback(_Model):
    """How an automatic rollback (a step with ``on_failure: rollback``) starts: after a countdown the operator can hold."""

    countdown_s: int = Field(default=10, ge=0, le=600)


class Lock(_Model):
    """The change lock: a ``coordination.k8s.io/v1`` Lease held on the cluster while a change that acts on it runs."""

    scope: Literal["cluster", "namespaces"] = "cluster"
    duration_s: int = Field(default=15, ge=1, le=3600)
    renew_every_s: float | None = Field(default=None, gt=0)  # default: a third of duration_s
    namespace: str = "default"
    name: str = "opsconsole-change"

    @field_validator("namespace", "name")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):
            raise ValueError(f"{value!r} is not a Kubernetes name (lower-case letters, digits and -, at most 63)")
        return value


class Redaction(_Model):
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, values: list[str]) -> list[str]:
        for p in values:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"redaction pattern {p!r} does not compile: {exc}") from exc
        return values


class Signatures(_Model):
    """Signed approvals: who may sign (an allowed-signers file) and, per environment and risk, how many of each role.

    Where ``require`` names roles for a change's environment and risk, those roles count only as SSH signatures
    (``opsconsole approve``) by distinct holders, never as a typed name; every other role keeps typed approvals.
    """

    allowed_signers: str | None = None  # relative to the policy file's directory
    approval_ttl: str = "4h"
    require: dict[str, dict[RiskLevel, dict[str, int]]] = Field(default_factory=dict)

    @field_validator("approval_ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        if ttl_seconds(value) <= 0:
            raise ValueError("approval_ttl must be longer than zero")
        return value

    @property
    def ttl_s(self) -> int:
        return ttl_seconds(self.approval_ttl)

    @field_validator("require")
    @classmethod
    def _counts(cls, value: dict[str, dict[RiskLevel, dict[str, int]]]) -> dict[str, dict[RiskLevel, dict[str, int]]]:
        for env, risks in value.items():
            for risk, roles in risks.items():
                for role, count in roles.items():
                    if count < 1:
                        raise ValueError(f"{env}.{risk}.{role}: a required role needs at least 1 approval")
        return value


def ttl_seconds(value: str) -> int:
    """Seconds in ``30m``, ``4h``, ``1d12h`` (the runbooks' duration syntax, which this layer cannot import)."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    parts = re.findall(r"(\d+)([smhd])", text)
    if not text or re.sub(r"\d+[smhd]", "", text):
        raise ValueError(f"{value!r} is not a duration (use seconds or a string like 30m, 4h, 1d)")
    return sum(int(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u] for n, u in parts)


def _default_environments() -> dict[str, Environment]:
    return {
        "rehearsal": Environment(contexts=["rehearsal", "rehearsal-b"], rehearsal=True),
        "staging": Environment(),
        "production": Environment(production=True),
    }


def _default_approvals() -> dict[RiskLevel, list[str]]:
    return {
        "low": [],
        "medium": ["senior-engineer"],
        "high": ["engineering-manager", "security"],
        "critical": ["director", "security", "business"],
    }


def _default_windows() -> dict[RiskLevel, Window]:
    return {
        "low": Window(),
        "medium": Window(),
        "high": Window(days=["tue", "wed", "thu"], start="22:00", end="04:00"),
        "critical": Window(days=["sat", "sun"], start="02:00", end="06:00"),
    }


class Policy(_Model):
    """Everything policy decides: environments, approvals, windows, limits, escalation and redaction."""

    records_dir: str | None = None
    environments: dict[str, Environment] = Field(default_factory=_default_environments)
    approvals: dict[RiskLevel, list[str]] = Field(default_factory=_default_approvals)
    windows: dict[RiskLevel, Window] = Field(default_factory=_default_windows)
    limits: Limits = Field(default_factory=Limits)
    store: Store = Field(default_factory=Store)
    emergency: Emergency = Field(default_factory=Emergency)
    escalation: Escalation = Field(default_factory=Escalation)
    rollback: Rollback = Field(default_factory=Rollback)
    redaction: Redaction = Field(default_factory=Redaction)
    signatures: Signatures = Field(default_factory=Signatures)
    lock: Lock = Field(default_factory=Lock)
    source: str = Field(default="(built-in defaults)", exclude=True)
    # SHA-256 of the policy file's bytes (of the defaults' JSON with no file): what approvers sign and the record keeps.
    sha256: str = Field(default="", exclude=True)

    @property
    def digest(self) -> str:
        return self.sha256 or hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()

    def signed_roles(self, environment: str, risk: str) -> dict[str, int]:
        """The roles a change of ``risk`` in ``environment`` needs as signatures, with how many signers each."""
        if not self.signatures.allowed_signers:
            return {}
        per_env = self.signatures.require.get(environment) or self.signatures.require.get("*") or {}
        return dict(per_env.get(risk, {})) if risk in RISK_LEVELS else {}

    def allowed_signers_path(self) -> Path | None:
        """The allowed-signers file, relative to the policy file's directory when not absolute."""
        if not self.signatures.allowed_signers:
            return None
        path = Path(self.signatures.allowed_signers).expanduser()
        if not path.is_absolute() and not self.source.startswith("("):
            path = Path(self.source).parent / path
        return path

    @model_validator(mode="after")
    def _requires_known(self) -> Policy:
        for name, env in self.environments.items():
            for required in env.requires:
                if required == name or required not in self.environments:
                    raise ValueError(
                        f"environments.{name}.requires names {required!r}, which is "
                        + ("the environment itself" if required == name else "no environment of this policy")
                    )
        return self

    def environment_of(self, context: str) -> str | None:
        """The environment a context belongs to, if policy maps it."""
        for name, env in self.environments.items():
            if context in env.contexts:
                return name
        return None

    def required_roles(self, risk: str) -> list[str]:
        if risk not in RISK_LEVELS:  # a level neither policy nor the defaults name: no roles, any time (window below)
            return []
        return list(self.approvals.get(risk, _default_approvals().get(risk, [])))

    def window(self, risk: str) -> Window:
        if risk not in RISK_LEVELS:
            return Window()
        return self.windows.get(risk, _default_windows().get(risk, Window()))


def config_candidates(explicit: str | None = None, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> list[Path]:
    environ = os.environ if env is None else env
    if explicit or environ.get("OPSCONSOLE_CONFIG"):
        return [Path(explicit or environ["OPSCONSOLE_CONFIG"]).expanduser()]
    base = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [(cwd or Path.cwd()) / CONFIG_NAME, base / "opsconsole" / CONFIG_NAME]


def load_policy(explicit: str | None = None, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Policy:
    """The policy in force; raises ConfigError naming the file and key on anything invalid."""
    candidates = config_candidates(explicit, cwd=cwd, env=env)
    for path in candidates:
        if not path.exists():
            if explicit or (env or os.environ).get("OPSCONSOLE_CONFIG"):
                raise ConfigError(f"{path}: no such policy file")
            continue
        try:
            raw = path.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        merged = {**data}
        if "environments" in data:
            envs = {k: v.model_dump() for k, v in _default_environments().items() if k == "rehearsal"}
            envs.update(data["environments"])
            merged["environments"] = envs
        try:
            policy = Policy.model_validate(merged)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{path}: {where}: {message}" if where else f"{path}: {message}") from None
        return policy.model_copy(update={"source": str(path), "sha256": hashlib.sha256(raw).hexdigest()})
    return Policy()
