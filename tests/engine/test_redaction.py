"""Redaction: every pattern on its own, and a whole change with secrets planted everywhere that leaves none on disk.

The end-to-end test runs a real command printing every kind of secret (tests/engine/fixtures/print_secrets.py),
puts secrets into the command line, the runbook, a failure reason, a break-glass reason, a manual note, a note
and the follow-ups, then walks every file under the change's directory and greps its bytes for each secret.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from console.engine.redact import MASK, Redactor, StreamRedactor
from console.engine.runner import OutputLine
from console.journal import events as ev
from console.journal.cast import read_cast
from console.journal.journal import verify

from .conftest import FIXTURES, PY, events_of, every_file, runbook_doc

SECRETS_SCRIPT = FIXTURES / "print_secrets.py"
PRINTED = runpy.run_path(str(SECRETS_SCRIPT))
EXTRA_PATTERNS = [r"(?i)(x-api-key:\s*)\S+", r"CORP-[0-9]{6}-[A-Z]{4}"]
POLICY = "[redaction]\npatterns = ['(?i)(x-api-key:\\s*)\\S+', 'CORP-[0-9]{6}-[A-Z]{4}']\n"


def stream(text: str, redactor: Redactor | None = None, **kwargs) -> list[str]:
    s = StreamRedactor(redactor or Redactor(), **kwargs)
    out: list[str] = []
    for line in text.splitlines():
        out += s.feed(line)
    return out + s.flush()


# -- each pattern -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdefgh12345678", f"Authorization: Bearer {MASK}"),
        ("password=hunter2hunter2 next", f"password={MASK} next"),
        ('{"token": "abc123xyz"}', f'{{"token": "{MASK}"}}'),
        ("api_key: k-123456", f"api_key: {MASK}"),
        ("client-secret=s3cr3t&x=1", f"client-secret={MASK}&x=1"),
        ("key AKIAIOSFODNN7EXAMPLE used", f"key {MASK} used"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", f"aws_secret_access_key={MASK}"),
        ("git clone https://deploy:gh-pass-123@git.example.invalid/repo", f"git clone https://deploy:{MASK}@git.example.invalid/repo"),
        ("a -----BEGIN PRIVATE KEY-----MIIB-----END PRIVATE KEY----- b", f"a {MASK} b"),
        ("nothing secret here: replicas=3", "nothing secret here: replicas=3"),
    ],
)
def test_each_builtin_pattern(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


def test_secret_values_and_policy_patterns() -> None:
    r = Redactor(["s3cret-value", "abc"], EXTRA_PATTERNS)
    assert r.redact("got s3cret-value twice: s3cret-value") == f"got {MASK} twice: {MASK}"
    assert r.redact("abc is too short to redact safely") == "abc is too short to redact safely"
    # A header line is "name: value" at the start of a line: the built-in rules take the rest of the line.
    assert r.redact("X-API-KEY: zzz999 rest") == f"X-API-KEY: {MASK}"
    assert r.redact("< X-API-KEY: zzz999 rest") == f"< X-API-KEY: {MASK} rest"
    assert Redactor([], [r"(?i)(x-tenant-sig:\s*)\S+"]).redact("x-tenant-sig: zzz999 rest") == f"x-tenant-sig: {MASK} rest"
    assert r.redact("tenant CORP-123456-ABCD ok") == f"tenant {MASK} ok"
    r.add_secret("later-added")
    assert r.redact("later-added") == MASK
    assert r.redact_data({"a": ["s3cret-value", 3, {"b": "token=xyz123"}]}) == {"a": [MASK, 3, {"b": f"token={MASK}"}]}


def test_a_pem_block_is_masked_line_by_line_across_lines() -> None:
    text = "before\n-----BEGIN EC PRIVATE KEY-----\nAAAA\nBBBB\n-----END EC PRIVATE KEY-----\nafter"
    assert stream(text) == ["before", MASK, MASK, MASK, MASK, "after"]


def test_secrets_listed_as_yaml_and_json_items_are_masked_and_configmaps_are_not() -> None:
    yaml_list = """\
apiVersion: v1
items:
- apiVersion: v1
  data:
    password: c2VjcmV0LW9uZQ==
  kind: Secret
  metadata:
    name: one
- data:
    level: ZGVidWc=
  kind: ConfigMap
  metadata:
    name: two
- stringData:
    plain: visible-only-if-not-secret
  kind: Secret
kind: List"""
    out = stream(yaml_list)
    assert out[4] == f"    password: {MASK}" and "c2VjcmV0LW9uZQ==" not in "\n".join(out)
    assert "    level: ZGVidWc=" in out  # a ConfigMap's data is not a secret
    assert "visible-only-if-not-secret" not in "\n".join(out)
    assert len(out) == len(yaml_list.splitlines())

    json_list = json.dumps({"items": [
        {"apiVersion": "v1", "data": {"k": "c2VjcmV0LXR3bw=="}, "kind": "Secret"},
        {"apiVersion": "v1", "data": {"k": "bm90LXNlY3JldA=="}, "kind": "ConfigMap"},
    ]}, indent=4)
    out = stream(json_list)
    assert "c2VjcmV0LXR3bw==" not in "\n".join(out) and f'"k": "{MASK}"' in out[5]
    assert any("bm90LXNlY3JldA==" in line for line in out)


def test_an_undecided_data_block_is_masked_when_the_hold_limit_or_the_end_comes() -> None:
    # The output ends before any kind is printed: fail closed.
    assert stream("data:\n  key: dmFsdWU=") == ["data:", f"  key: {MASK}"]
    # A data block longer than the hold limit is released masked rather than held forever.
    # The rest of that block stays masked after the release; the first line back at its level is plain again.
    s = StreamRedactor(Redactor(), hold_limit=10)
    released: list[str] = []
    for line in ["data:", *[f"  k{i}: dmFsdWU=" for i in range(20)], "kind: Secret", "metadata:", "  name: big"]:
        released += s.feed(line)
    released += s.flush()
    assert released[:3] == ["data:", f"  k0: {MASK}", f"  k1: {MASK}"]
    assert released[11:21] == [f"  k{i}: {MASK}" for i in range(10, 20)]
    assert released[21:] == ["kind: Secret", "metadata:", "  name: big"]


# -- a whole change --------------------------------------------------------------------------------------------------


PARAM_SECRET = "PlantedParamSecret42"
RUNBOOK_BEARER = "eyJPlantedRunbookBearer.abc.def"
ELSEWHERE = {
    "forbidden": "PlantedForbiddenPw",
    "reason": "PlantedReasonTok",
    "manual": "PlantedManualNote",
    "note": "PlantedNotePass",
    "followup": "PlantedFollowupTok",
    "approval": "PlantedApprovalRefTok",
}
ALL_SECRETS = [PARAM_SECRET, RUNBOOK_BEARER, *PRINTED["PLANTED"], *ELSEWHERE.values()]


def test_planted_secrets_appear_nowhere_under_the_change(start, tmp_path: Path) -> None:
    from console.engine.policy import Approval

    print_secrets = [PY, str(SECRETS_SCRIPT), "{token}"]
    doc = runbook_doc(
        params={"token": {"type": "string", "secret": True}},
        preconditions=[{"id": "evidence", "kind": "check", "run": print_secrets, "capture": "artifact"}],
        steps=[
            {
                "id": "leak", "title": "Use {token}", "run": print_secrets, "confirm": "none",
                "env": {"AUTH_HEADER": f"Authorization: Bearer {RUNBOOK_BEARER}"},
                "explain": "Calls the API with token={token}.",
            },
            {
                "id": "forbidden", "run": ["sh", "-c", f"echo FATAL password={ELSEWHERE['forbidden']}"],
                "expect": {"output_not_matches": "FATAL"}, "confirm": "none",
            },
            {"id": "by-hand", "kind": "manual", "instructions": "Rotate the key.", "capture": "artifact"},
        ],
    )
    seen: list[OutputLine] = []
    s = start(doc, params={"token": PARAM_SECRET}, policy_text=POLICY,
              approvals=[Approval("bob", "peer", f"ticket token={ELSEWHERE['approval']}")])
    s.run(listeners=[seen.append])
    s.run(listeners=[seen.append])
    s.run(listeners=[seen.append])
    assert s.next().kind == "failure"
    assert "FATAL password=[REDACTED]" in s.next().reason
    s.choose("continue", reason=f"reviewed; token={ELSEWHERE['reason']}", approver="erin")
    s.answer_manual("done", note=f"rotated, old password={ELSEWHERE['manual']}")
    s.add_note(f"old api_key: {ELSEWHERE['note']} revoked")
    s.close("partial", followups=[f"check token={ELSEWHERE['followup']} is dead"])

    change_dir = s.ref.path
    files = every_file(change_dir)
    names = {p.relative_to(change_dir).as_posix() for p in files}
    assert {"journal.jsonl", "record.md", "artifacts/runbook.yaml", "artifacts/evidence.out", "artifacts/by-hand.txt"} <= names
    assert len([n for n in names if n.startswith("outputs/")]) == 3
    leaks = [
        (p.relative_to(change_dir).as_posix(), secret)
        for p in files for secret in ALL_SECRETS if secret.encode() in p.read_bytes()
    ]
    assert leaks == []
    # Nothing reached the screen either.
    assert not [line.text for line in seen if any(secret in line.text for secret in ALL_SECRETS)]

    # The redaction was targeted: the text around each secret is still there to read.
    _, cast_events = read_cast(change_dir / "outputs" / "002-leak.cast")
    cast_text = "".join(text for _t, code, text in cast_events if code == "o")
    for kept in (
        "using the secret parameter [REDACTED]", "Authorization: Bearer [REDACTED]", "password=[REDACTED] user=app",
        "token=[REDACTED]", "aws_secret_access_key = [REDACTED]", "after the key", "  db-url: [REDACTED]",
        '"api-key": "[REDACTED]"', "log-level: debug-visible", "X-Api-Key: [REDACTED]", "tenant [REDACTED] provisioned",
        "kind: Secret", "done printing",
    ):
        assert kept in cast_text, kept
    assert cast_text.count(MASK) >= 15
    evidence = (change_dir / "artifacts" / "evidence.out").read_text()
    assert "  ca.crt: [REDACTED]" in evidence and "log-level: debug-visible" in evidence
    md = (change_dir / "record.md").read_text()
    assert "`token` = `[REDACTED]`" in md and "reviewed; token=[REDACTED]" in md
    started = events_of(s, ev.STEP_STARTED)[1].data
    assert started["title"] == "Use [REDACTED]" and started["argv"][-1] == MASK
    assert verify(s.store.journal_path(s.ref)).ok
