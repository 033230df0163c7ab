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

[escalation]               # minutes after a failure
manual_rollback = 5
senior = 15
leadership = 30

[rollback]                 # a step with on_failure: rollback rolls back by itself after this countdown
countdown_s = 10

[redaction]
patterns = ["(?i)(x-api-key:\\s*)\\S+"]

[lock]                     # the Lease a change holds on the cluster it acts on
scope = "cluster"          # or "namespaces": one Lease in each namespace the change touches
duration_s = 15            # it expires this long after the last renewal (a console that died)
namespace = "default"      # where the cluster-wide Lease lives
```
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class Escalation(_Model):
    """Minutes after a failure at which each escalation is due."""

    manual_rollback: int = 5
    senior: int = 15
    leadership: int = 30


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
    escalation: Escalation = Field(default_factory=Escalation)
    rollback: Rollback = Field(default_factory=Rollback)
    redaction: Redaction = Field(default_factory=Redaction)
    lock: Lock = Field(default_factory=Lock)
    source: str = Field(default="(built-in defaults)", exclude=True)

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
            data = tomllib.loads(path.read_text(encoding="utf-8"))
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
            raise ConfigError(f"{path}: {where}: {err['msg'].removeprefix('Value error, ')}") from None
        return policy.model_copy(update={"source": str(path)})
    return Policy()
