"""Test helpers for approvals: real SSH keys made by ssh-keygen, an allowed-signers file naming them, and start requests to approve.

People: alice (senior-engineer), bob (security), carol (senior-engineer and security), olga (the operator; holds
both roles, so self-approval is a real temptation), and mallory, whose key is in no file.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.governance import request as requests
from console.governance.allowed_signers import AllowedSigners, format_line, parse_allowed_signers

ROLES = {
    "alice": ["senior-engineer"],
    "bob": ["security"],
    "carol": ["senior-engineer", "security"],
    "olga": ["senior-engineer", "security"],
}
OPERATOR = "olga"
CREATED = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
SIGNED = CREATED + timedelta(minutes=5)
NOW = CREATED + timedelta(minutes=30)
TTL = timedelta(hours=4)
NONCE = "0f" * 16


def make_key(path: Path, key_type: str = "ed25519") -> Path:
    """A passphrase-less key pair at ``path`` and ``path.pub``, made by the real ssh-keygen."""
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", path.name, "-f", str(path)],
                   check=True, capture_output=True, timeout=60)
    return path


@dataclass(frozen=True)
class Team:
    """Everyone's private key path, the allowed-signers file listing the team, and its parsed form."""

    keys: dict[str, Path]
    allowed_path: Path
    allowed: AllowedSigners

    def pub(self, name: str) -> str:
        return self.keys[name].with_suffix(".pub").read_text().strip()


def make_team(base: Path) -> Team:
    """Keys for everyone in ``base`` and the allowed-signers file for all but mallory."""
    keys = {name: make_key(base / name) for name in [*ROLES, "mallory"]}
    text = "# approvers of opsconsole changes\n" + "".join(
        format_line(name, roles, keys[name].with_suffix(".pub").read_text()) + "\n" for name, roles in ROLES.items()
    )
    path = base / "allowed_signers"
    path.write_text(text)
    return Team(keys, path, parse_allowed_signers(text, source=str(path)))


def plan() -> list[requests.PlanEntry]:
    return [
        requests.PlanEntry("preconditions", "backup", "command", "kubectl get all -n web -o yaml", "web", None),
        requests.PlanEntry("steps", "restart", "command", "kubectl rollout restart deployment/web -n web", "web",
                           "deployment/web"),
        requests.PlanEntry("steps", "wait", "rollout", "", "web", "deployment/web"),
    ]


def request_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "change_id": "CHG-2026-0042",
        "runbook_id": "web-config-restart",
        "runbook_sha256": "a" * 64,
        "parameters": {"namespace": "web", "replicas": "3", "token": "s3cr3t-value"},
        "secret_parameters": ["token"],
        "operator": OPERATOR,
        "environment": "production",
        "context": "prod-eu-1",
        "from_version": "1.4.2",
        "to_version": "1.5.0",
        "policy_sha256": "b" * 64,
        "plan": plan(),
        "preflight": {"can_i": {"patch deployments -n web": "yes"}, "kubectl": "v1.32.0", "server": "v1.32.1"},
        "nonce": NONCE,
        "created_at": CREATED,
    }
    fields.update(overrides)
    return fields


def make_request(**overrides: Any) -> bytes:
    """The canonical bytes of a start request, with any field replaced."""
    return requests.to_bytes(requests.build(**request_fields(**overrides)))


def assert_one_sentence(text: str) -> None:
    """A reason the operator reads: one sentence, ending in a full stop, no second sentence inside."""
    assert text.endswith("."), text
    assert ". " not in text[:-1], text
    assert "\n" not in text, text
