"""Helpers shared by the Terraform tests (the recorded plans and the nodepool module under tests/terraform/fixtures)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "terraform" / "fixtures"
NODEPOOL = FIXTURES / "nodepool"
PLANS = FIXTURES / "plans"
# Port 9 (discard) is closed on these machines: a proxied connection is refused at once.
DEAD_PROXY = "http://127.0.0.1:9"
OFFLINE_ENV = {"HTTPS_PROXY": DEAD_PROXY, "HTTP_PROXY": DEAD_PROXY, "https_proxy": DEAD_PROXY,
               "http_proxy": DEAD_PROXY, "NO_PROXY": "", "no_proxy": "", "CHECKPOINT_DISABLE": "1"}


def real_binary() -> str | None:
    """The operator's terraform (or tofu) on PATH, if any."""
    return shutil.which("terraform") or shutil.which("tofu")


def load_plan(name: str) -> dict:
    """One of the recorded ``show -json`` documents."""
    return json.loads((PLANS / name).read_text())


class Lines(list):
    """Collects streamed lines; ``json()`` parses the ones that are Terraform UI messages."""

    def __call__(self, line: str) -> None:
        self.append(line)

    def json(self) -> list[dict]:
        out = []
        for line in self:
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def types(self) -> list[str]:
        return [m.get("type", "") for m in self.json()]


def copy_workdir(src: Path, dst: Path) -> Path:
    """A private copy of an initialised working directory (config, .terraform, state)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def fresh_nodepool(dst: Path) -> Path:
    """An uninitialised copy of the node-pool configuration."""
    shutil.copytree(NODEPOOL, dst)
    return dst
