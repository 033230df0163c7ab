"""A secret that would become a file name: the record's folder is named by the change's from and to versions.

A runbook may take its versions from parameters (``to: "{version}"``). No redaction reaches a folder's name, so a
version built from a secret parameter is refused by lint, and a value shaped like a secret (a token pasted into the
version field at 2 a.m.) is refused when the change starts, before anything is written, and without repeating it.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from .crashloop import PY, REPO, Console
from .secrets_on_disk import leaks

TOKEN = "ghp_A1b2C3d4E5A1b2C3d4E5A1b2C3d4E5f6G7h8"
SECRET = "Tok3n-Secret-99"
RUNBOOK = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {{id: versioned-release, title: "Release {{version}}", component: web, from: "1.0", to: "{to}", risk: low,
           environments: [rehearsal], owners: [platform]}}
why: The version is chosen when the change starts.
scope: nothing outside the test
blast_radius: none
params:
  version: {{type: string}}
  token: {{type: string, secret: true}}
steps:
  - id: publish
    title: Publish the release
    run: [sh, -c, 'echo "publishing $1 with a token"; test -n "$2"', sh, "{{version}}", "{{token}}"]
    mutates: false
done_when: [the release is published]
"""
pytestmark = pytest.mark.kubectl


def write(tmp_path: Path, to: str) -> Path:
    path = tmp_path / "versioned-release.yaml"
    path.write_text(RUNBOOK.format(to=to))
    return path


def test_lint_refuses_a_version_made_of_a_secret_parameter(tmp_path: Path) -> None:
    lint = subprocess.run([PY, "-m", "console.cli", "lint", str(write(tmp_path, "{token}"))], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 1 and "secret-in-version" in lint.stdout, lint.stdout + lint.stderr


def test_a_token_pasted_as_the_version_is_refused_and_written_nowhere(console: Console, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\n")
    runbook = write(tmp_path, "{version}")
    refused = console(*console.run_args(runbook, answers, "--param", f"version={TOKEN}", "--param", f"token={SECRET}"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "metadata.to" in refused.stderr and TOKEN not in refused.stderr + refused.stdout
    assert console.journal() is None
    assert leaks(console.records, [TOKEN, SECRET]) == []
    # The same runbook with a version that is one starts, names its folder with it, and shows its title filled in.
    done = console(*console.run_args(runbook, answers, "--param", "version=1.5.0", "--param", f"token={SECRET}"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert console.journal().parent.name.split("__")[2] == "1.0-1.5.0"
    assert "Release 1.5.0" in done.stdout
    assert leaks(console.records, [TOKEN, SECRET]) == []


def test_a_reviewers_addendum_pasting_secrets_is_kept_with_them_masked(console: Console, tmp_path: Path) -> None:
    """An addendum is text a reviewer types after the change: a connection string, a token or a ``password=`` pasted
    into a correction is masked before the journal and record.md, with the policy's own patterns as well."""
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\n")
    done = console(*console.run_args(write(tmp_path, "{version}"), answers, "--param", "version=1.5.0", "--param",
                                     f"token={SECRET}"))
    assert done.returncode == 0, done.stdout + done.stderr
    change_id = console.events()[0].data["change_id"]
    pasted = [("postgres://app:", "AddendumPw9911", "@db/app"), ("token ", TOKEN, ""), ("password=", "PlainAddPw77", ""),
              ("tenant ", "CORP-552211-QX", "")]
    policy = tmp_path / "team.toml"
    policy.write_text(console.policy.read_text() + "\n[redaction]\npatterns = ['CORP-[0-9]{6}-[A-Z]{2}']\n")
    added = dataclasses.replace(console, policy=policy)(
        "records", "addendum", change_id, "--author", "carol", "--kind", "correction", "--text", "; ".join(before + secret + after for before, secret, after in pasted))
    assert added.returncode == 0, added.stdout + added.stderr
    text = console.events()[-1].data["text"]
    assert text == "; ".join(before + "[REDACTED]" + after for before, _secret, after in pasted)
    assert leaks(console.records, [secret for _b, secret, _a in pasted]) == []
