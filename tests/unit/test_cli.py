"""The ``opsconsole`` command, run as a real process: exit codes, what goes to stdout and stderr, and no tracebacks.

Changes in the store are made the way the console makes them (RecordStore + Journal + a real asciicast output),
and damaged the way a disk or a person would damage them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from console.journal import events as ev
from console.journal.cast import CastWriter
from console.journal.journal import Journal
from console.journal.store import ChangeRef, RecordStore
from console.runbook.loader import to_plain

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "unit" / "runbooks" / "bad-everything.yaml"

ELSEWHERE = "(another record store: --records-dir or OPSCONSOLE_RECORDS)"


def opsconsole(*args: str, records: Path | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter; OPSCONSOLE_RECORDS is the test's store unless told otherwise."""
    env = dict(os.environ)
    if records is not None:
        env["OPSCONSOLE_RECORDS"] = str(records)
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single sentence an operator error prints on stderr (no traceback)."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- making changes ----------------------------------------------------------------------------------------------


def make_change(
    store: RecordStore, *, change_id: str, component: str, from_v: str, to_v: str, when: datetime,
    operator: str, outcome: str | None, risk: str = "medium", environment: str = "staging",
) -> ChangeRef:
    """A change as the engine writes one: created, a step with a recorded output, closed (unless outcome is None)."""
    ref = store.create_change(component=component, from_version=from_v, to_version=to_v, when=when, change_id=change_id)
    now = [when]

    def clock() -> datetime:
        now[0] += timedelta(seconds=1)
        return now[0]

    with Journal.create(store.journal_path(ref), clock=clock) as j:
        j.append(ev.CHANGE_CREATED, {
            "change_id": change_id, "environment": environment, "context": "rehearsal", "operator": operator,
            "description": f"{component} {from_v} to {to_v}",
            "runbook": {"id": f"{component}-upgrade", "title": f"Upgrade {component}", "component": component,
                        "from": from_v, "to": to_v, "risk": risk},
        })
        j.append(ev.APPROVAL_RECORDED, {"name": "bob", "role": "reviewer", "reference": "OPS-1"})
        out = store.next_output_path(ref, "restart")
        with CastWriter(out, started=when, command="kubectl rollout restart deployment/x") as cast:
            cast.write("deployment.apps/x restarted\r\n", at=0.1)
        digest = cast.close()
        j.append(ev.STEP_STARTED, {"section": "step", "step_id": "restart", "title": "Restart", "attempt": 1,
                                   "command": "kubectl rollout restart deployment/x"})
        j.append(ev.STEP_FINISHED, {"section": "step", "step_id": "restart", "status": "passed", "exit_code": 0,
                                    "duration_s": 1.5, "file": {"path": str(out.relative_to(ref.path)), "sha256": digest}})
        if outcome is not None:
            j.append(ev.CHANGE_CLOSED, {"outcome": outcome, "followups": []})
    return ref


@pytest.fixture
def store(records_dir: Path) -> RecordStore:
    s = RecordStore(records_dir)
    make_change(s, change_id="CHG-2026-0001", component="web", from_v="1.4.2", to_v="1.5.0",
                when=datetime(2026, 11, 21, 23, 0, tzinfo=UTC), operator="alice", outcome="success",
                environment="production")
    make_change(s, change_id="CHG-2026-0002", component="redis", from_v="none", to_v="7.2", risk="high",
                when=datetime(2026, 11, 22, 1, 30, tzinfo=UTC), operator="carol", outcome="rolled_back")
    return s


def journal_of(store: RecordStore, change_id: str) -> Path:
    return store.journal_path(store.find(change_id))


# -- lint ------------------------------------------------------------------------------------------------------


def test_lint_passes_on_the_shipped_runbooks() -> None:
    result = opsconsole("lint", "runbooks")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    n = len(list((REPO / "runbooks").glob("*.yaml")))
    assert result.stderr == f"{n} runbook(s) checked, 0 with problems\n"


def test_lint_fails_on_a_bad_runbook_with_every_problem_on_stdout(tmp_path: Path) -> None:
    rel = BAD.relative_to(REPO)
    result = opsconsole("lint", str(rel), "runbooks/_template.yaml")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 15
    assert lines[0] == f"{rel}:10:9: metadata.risk: 'extreme' is not allowed: low, medium, high or critical"
    assert all(re.match(rf"^{re.escape(str(rel))}:\d+:\d+: \S+: .+", line) for line in lines), lines
    assert result.stderr == "2 runbook(s) checked, 1 with problems\n"


def test_lint_reports_authoring_findings_and_quiet_drops_the_summary(tmp_path: Path) -> None:
    text = (REPO / "runbooks" / "_template.yaml").read_text().replace("why: Why the change is needed.", "why: ''")
    path = tmp_path / "no-why.yaml"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("why:"))
    result = opsconsole("lint", "-q", str(path))
    assert result.returncode == 1
    assert result.stdout == (
        f"{path}:{line}: required-sections: why is empty: say it, reviewers and the operator at 2 a.m. both need it\n"
    )
    assert result.stderr == ""


def test_lint_of_a_missing_path_is_one_sentence(tmp_path: Path) -> None:
    result = opsconsole("lint", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert one_line_error(result) == f"opsconsole: {tmp_path / 'nope.yaml'}: no such file or directory"


# -- schema ----------------------------------------------------------------------------------------------------

# JSON Schema keywords that only annotate, and those the checker below validates; any other keyword fails the test
# rather than being skipped, so the check never passes by not looking.
ANNOTATIONS = {"title", "description", "default", "$schema", "$id", "$defs", "examples"}
VALIDATED = {"$ref", "type", "anyOf", "const", "enum", "pattern", "minLength", "maxLength", "minimum", "minItems",
             "items", "required", "properties", "patternProperties", "additionalProperties", "propertyNames",
             "minProperties", "maximum"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def is_type(kind: str, value: Any) -> bool:
    if kind in ("integer", "number"):
        wanted = int if kind == "integer" else (int, float)
        return isinstance(value, wanted) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def check(schema: dict[str, Any], value: Any, root: dict[str, Any], where: str = "$") -> list[str]:
    """A small JSON Schema checker for the keywords pydantic emits (the project has no jsonschema dependency)."""
    unknown = set(schema) - ANNOTATIONS - VALIDATED
    assert not unknown, f"the checker does not know {sorted(unknown)}"
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return check(target, value, root, where)
    if "type" in schema and not is_type(schema["type"], value):
        return [f"{where}: expected {schema['type']}, got {value!r}"]
    errors: list[str] = []
    if "anyOf" in schema and all(check(option, value, root, where) for option in schema["anyOf"]):
        errors.append(f"{where}: {value!r} matches none of anyOf")
    if ("const" in schema and value != schema["const"]) or ("enum" in schema and value not in schema["enum"]):
        errors.append(f"{where}: {value!r} not allowed")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            errors.append(f"{where}: {value!r} has the wrong length")
    if is_type("number", value) and value < schema.get("minimum", value):
        errors.append(f"{where}: {value!r} is below {schema['minimum']}")
    if is_type("number", value) and value > schema.get("maximum", value):
        errors.append(f"{where}: {value!r} is above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        for i, item in enumerate(value):
            errors += check(schema.get("items", {}), item, root, f"{where}[{i}]")
    if isinstance(value, dict):
        errors += [f"{where}: missing {name!r}" for name in schema.get("required", []) if name not in value]
        if len(value) < schema.get("minProperties", 0):
            errors.append(f"{where}: fewer than {schema['minProperties']} properties")
        props = schema.get("properties", {})
        for name, item in value.items():
            if "propertyNames" in schema:
                errors += check(schema["propertyNames"], name, root, f"{where}.{name} (name)")
            if name in props:
                errors += check(props[name], item, root, f"{where}.{name}")
                continue
            matched = [s for pattern, s in schema.get("patternProperties", {}).items() if re.search(pattern, name)]
            for sub in matched:
                errors += check(sub, item, root, f"{where}.{name}")
            extra = schema.get("additionalProperties", True)
            if not matched and extra is False:
                errors.append(f"{where}: unknown property {name!r}")
            elif not matched and isinstance(extra, dict):
                errors += check(extra, item, root, f"{where}.{name}")
    return errors


def test_schema_is_json_schema_for_the_runbook_format() -> None:
    result = opsconsole("schema")
    assert result.returncode == 0 and result.stderr == ""
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["required"] == ["apiVersion", "kind", "metadata", "steps"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "apiVersion", "kind", "metadata", "why", "scope", "blast_radius", "params", "preconditions", "gates",
        "steps", "rollback", "verification", "evidence", "done_when", "order",
    }
    assert schema["properties"]["apiVersion"]["const"] == "opsconsole/v1"
    metadata = schema["$defs"]["Metadata"]
    assert set(metadata["required"]) >= {"id", "title", "component", "from", "to", "risk", "environments", "owners"}

    yaml = YAML(typ="rt")
    for path in sorted((REPO / "runbooks").glob("*.yaml")):
        data = to_plain(yaml.load(path.read_text()))
        # every key a shipped runbook uses is a property; every required one is there
        assert set(data) <= set(schema["properties"]), path.name
        assert set(schema["required"]) <= set(data), path.name
        assert check(schema, data, schema) == [], path.name

    # and the schema refuses what the loader refuses
    bad = to_plain(yaml.load(BAD.read_text()))
    problems = check(schema, bad, schema)
    assert "$.metadata.risk: 'extreme' not allowed" in problems
    assert "$.metadata: unknown property 'tilte'" in problems
    assert "$.steps[4]: unknown property 'confim'" in problems
    missing = {k: v for k, v in to_plain(yaml.load((REPO / "runbooks" / "_template.yaml").read_text())).items() if k != "steps"}
    assert check(schema, missing, schema) == ["$: missing 'steps'"]


# -- records ---------------------------------------------------------------------------------------------------


def test_records_list_is_a_table_of_every_change(store: RecordStore) -> None:
    result = opsconsole("records", "list", records=store.root)
    assert result.returncode == 0, result.stderr
    rows = [re.split(r"\s{2,}", line) for line in result.stdout.splitlines()]
    assert rows == [
        ["ID", "DATE", "COMPONENT", "FROM→TO", "RISK", "ENVIRONMENT", "OPERATOR", "OUTCOME", "INTEGRITY"],
        ["CHG-2026-0001", "2026-11-21", "web", "1.4.2→1.5.0", "medium", "production", "alice", "success", "ok"],
        ["CHG-2026-0002", "2026-11-22", "redis", "none→7.2", "high", "staging", "carol", "rolled back", "ok"],
    ]
    # columns line up: each header starts where its values start
    header, first = result.stdout.splitlines()[:2]
    assert header.index("OPERATOR") == first.index("alice")


def test_records_list_json_and_an_empty_store(store: RecordStore, tmp_path: Path) -> None:
    result = opsconsole("records", "list", "--json", records=store.root)
    assert result.returncode == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["outcome"], r["integrity"]) for r in rows] == [
        ("CHG-2026-0001", "success", "ok"), ("CHG-2026-0002", "rolled_back", "ok")
    ]
    # A store that is not there is said, as review says it (a mistyped --records-dir); an empty one lists nothing.
    missing = tmp_path / "missing"
    result = opsconsole("records", "list", records=missing)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"opsconsole: {missing}: no record store here (use --records-dir or OPSCONSOLE_RECORDS)\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = opsconsole("records", "list", records=empty)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", f"no changes in {empty}\n")


def test_records_list_marks_a_broken_change(store: RecordStore) -> None:
    path = journal_of(store, "CHG-2026-0002")
    raw = bytearray(path.read_bytes())
    raw[raw.index(b'"carol"') + 1] ^= 0x01  # carol -> barol, one bit
    path.write_bytes(bytes(raw))
    result = opsconsole("records", "list", records=store.root)
    assert result.returncode == 0
    last = re.split(r"\s{2,}", result.stdout.splitlines()[-1])
    assert last[0] == "CHG-2026-0002" and last[-1] == "BROKEN"


def test_records_show_prints_the_record(store: RecordStore) -> None:
    result = opsconsole("records", "show", "CHG-2026-0001", records=store.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# CHG-2026-0001: Upgrade web\n")
    assert "| Operator | alice |" in result.stdout
    assert "| bob | reviewer | OPS-1 | 2026-11-21 23:00:02Z |" in result.stdout
    assert "- Verification when rendered: verified" in result.stdout
    assert not (store.find("CHG-2026-0001").path / "record.md").exists()  # show writes nothing


def test_records_verify_intact(store: RecordStore) -> None:
    result = opsconsole("records", "verify", records=store.root)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["CHG-2026-0001", "CHG-2026-0002"]
    assert all(re.fullmatch(r"CHG-2026-000\d: ok \(5 events, head [0-9a-f]{64}\)", ln) for ln in lines), lines


def test_records_verify_names_the_first_bad_line_after_a_byte_flip(store: RecordStore) -> None:
    path = journal_of(store, "CHG-2026-0001")
    lines = path.read_bytes().splitlines(keepends=True)
    target = bytearray(lines[1])  # line 2: the approval
    target[target.index(b'"bob"') + 1] ^= 0x20  # bob -> bOb
    lines[1] = bytes(target)
    path.write_bytes(b"".join(lines))
    result = opsconsole("records", "verify", records=store.root)
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert out[0] == "CHG-2026-0001: journal.jsonl line 2: hash does not match its content"
    assert out[1].startswith("CHG-2026-0002: ok ")
    # one change by ID
    result = opsconsole("records", "verify", "CHG-2026-0001", records=store.root)
    assert (result.returncode, result.stdout) == (1, out[0] + "\n")
    # show still prints what can be read, says it is broken, and exits 1
    result = opsconsole("records", "show", "CHG-2026-0001", records=store.root)
    assert result.returncode == 1
    assert "- Verification when rendered: BROKEN: line 2: hash does not match its content" in result.stdout


def test_records_show_of_a_tampered_journal_says_broken_first(store: RecordStore) -> None:
    path = journal_of(store, "CHG-2026-0001")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"alice"', b'"mallory"')  # the change.created line: nothing reads before it
    path.write_bytes(b"".join(lines))
    result = opsconsole("records", "show", "CHG-2026-0001", records=store.root)
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first == "# BROKEN: CHG-2026-0001: line 1: hash does not match its content", result.stdout[:300]
    assert "# : " not in result.stdout


def test_records_verify_catches_a_changed_output_file(store: RecordStore) -> None:
    ref = store.find("CHG-2026-0002")
    [cast] = (ref.path / "outputs").iterdir()
    cast.write_bytes(cast.read_bytes().replace(b"restarted", b"RESTARTED"))
    result = opsconsole("records", "verify", "CHG-2026-0002", records=store.root)
    assert result.returncode == 1
    assert result.stdout == f"CHG-2026-0002: journal.jsonl line 4: outputs/{cast.name}: SHA-256 differs from the journal\n"
    cast.unlink()
    result = opsconsole("records", "verify", "CHG-2026-0002", records=store.root)
    assert result.stdout == f"CHG-2026-0002: journal.jsonl line 4: outputs/{cast.name} is missing\n"


def test_records_verify_head(store: RecordStore) -> None:
    ok = opsconsole("records", "verify", "CHG-2026-0001", records=store.root)
    head = re.search(r"head ([0-9a-f]{64})", ok.stdout).group(1)  # type: ignore[union-attr]
    assert opsconsole("records", "verify", "CHG-2026-0001", "--head", head, records=store.root).returncode == 0
    wrong = "0" * 63 + "1"
    result = opsconsole("records", "verify", "CHG-2026-0001", "--head", wrong, records=store.root)
    assert result.returncode == 1
    assert result.stdout == f"CHG-2026-0001: journal.jsonl line 5: chain ends at {head}, expected {wrong}\n"
    # --head with more (or fewer) than one change is a usage error
    result = opsconsole("records", "verify", "--head", head, records=store.root)
    assert result.returncode == 2
    assert one_line_error(result) == "opsconsole: --head checks one change: name exactly one change ID with it"


def test_records_verify_head_accepts_addenda_after_it_and_lists_them(store: RecordStore) -> None:
    ok = opsconsole("records", "verify", "CHG-2026-0001", records=store.root)
    head = re.search(r"head ([0-9a-f]{64})", ok.stdout).group(1)  # type: ignore[union-attr]
    added = opsconsole("records", "addendum", "CHG-2026-0001", "--author", "dave", "--kind", "follow-up",
                       "--text", "ticket OPS-9 filed", records=store.root)
    assert added.returncode == 0, added.stderr
    result = opsconsole("records", "verify", "CHG-2026-0001", "--head", head, records=store.root)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CHG-2026-0001: ok (6 events, head ")
    assert lines[1:] == [
        f"  the kept head {head} is followed by 1 event(s) that may follow it:",
        "    journal.jsonl line 6: addendum.added",
    ]


def test_records_verify_head_fails_naming_the_first_event_that_may_not_follow_it(store: RecordStore) -> None:
    path = journal_of(store, "CHG-2026-0001")
    step_finished = json.loads(path.read_text().splitlines()[3])  # line 4, before the close-out
    assert step_finished["type"] == "step.finished"
    result = opsconsole("records", "verify", "CHG-2026-0001", "--head", step_finished["hash"], records=store.root)
    assert result.returncode == 1
    assert result.stdout == ("CHG-2026-0001: journal.jsonl line 5: a change.closed event after the kept head (line 4): "
                             "only addenda and signatures may follow it\n")


def test_records_render_writes_record_md(store: RecordStore) -> None:
    ref = store.find("CHG-2026-0002")
    result = opsconsole("records", "render", "CHG-2026-0002", records=store.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ref.path / 'record.md'}\n"
    text = (ref.path / "record.md").read_text()
    assert text.startswith("# CHG-2026-0002: Upgrade redis\n")
    assert "Outcome: **Rolled back**" in text
    # the record is not authoritative: regenerating it leaves the journal verifying
    assert opsconsole("records", "verify", "CHG-2026-0002", records=store.root).returncode == 0


@pytest.mark.parametrize("action", ["show", "render", "verify"])
def test_an_unknown_id_is_one_line_and_exit_1(store: RecordStore, action: str) -> None:
    result = opsconsole("records", action, "CHG-2026-0999", records=store.root)
    assert result.returncode == 1
    assert one_line_error(result) == f"opsconsole: no change CHG-2026-0999 in {store.root} {ELSEWHERE}"
    assert result.stdout == ""


def test_a_missing_store_is_one_line(tmp_path: Path) -> None:
    result = opsconsole("records", "show", "CHG-2026-0001", records=tmp_path / "nowhere")
    assert result.returncode == 1
    assert one_line_error(result) == (
        f"opsconsole: {tmp_path / 'nowhere'}: no record store here (use --records-dir or OPSCONSOLE_RECORDS)"
    )


@pytest.mark.parametrize(
    "args",
    [("records",), ("records", "frobnicate"), ("lint",), ("no-such-command",), ("records", "show"),
     ("records", "list", "--bogus")],
    ids=["no-action", "bad-action", "lint-no-path", "bad-command", "show-no-id", "bad-flag"],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = opsconsole(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: opsconsole")
    assert result.stdout == ""


def test_records_dir_overrides_the_environment(store: RecordStore, tmp_path: Path) -> None:
    decoy = RecordStore(tmp_path / "decoy")
    make_change(decoy, change_id="CHG-2026-0077", component="decoy", from_v="1", to_v="2",
                when=datetime(2026, 1, 1, tzinfo=UTC), operator="mallory", outcome="success")
    # before the command, and after it
    for args in (("--records-dir", str(store.root), "records", "list"),
                 ("records", "list", "--records-dir", str(store.root))):
        result = opsconsole(*args, records=decoy.root)
        assert result.returncode == 0
        ids = [line.split()[0] for line in result.stdout.splitlines()[1:]]
        assert ids == ["CHG-2026-0001", "CHG-2026-0002"]
    # and the environment is used when no flag is given
    result = opsconsole("records", "list", records=decoy.root)
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["CHG-2026-0077"]


def test_version() -> None:
    result = opsconsole("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"opsconsole \d+\.\d+\.\d+\S*\n", result.stdout)


def test_run_errors_say_what_is_wrong_and_usage_exits_2(tmp_path: Path) -> None:
    from tests.engine.conftest import runbook_doc, write_kubeconfig, write_runbook

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    runbook = write_runbook(tmp_path, runbook_doc([{"id": "noop", "kind": "check", "run": ["true"]}]))
    records = tmp_path / "records"
    bad_param = opsconsole("run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--param", "namespace", records=records)
    assert bad_param.returncode == 2, bad_param.stderr
    assert bad_param.stderr == "opsconsole: --param 'namespace' is not of the form name=value\n"
    # A context the kubeconfig does not have is said as such, with the ones it has; no doubled parentheses.
    unknown = opsconsole("run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--context", "nosuch", records=records)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("opsconsole: context 'nosuch' is not in the kubeconfig (its contexts: rehearsal, rehearsal-b, ")
    assert "((" not in unknown.stderr


def test_run_takes_a_runbook_id_from_the_runbooks_directory(tmp_path: Path) -> None:
    from tests.engine.conftest import runbook_doc, write_kubeconfig, write_runbook

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    books = tmp_path / "books"
    books.mkdir()
    write_runbook(books, runbook_doc([{"id": "noop", "kind": "check", "run": ["true"]}], rb_id="say-hello"), name="hello.yaml")
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nclose: {outcome: auto}\n")
    records = tmp_path / "records"
    ran = opsconsole("--runbooks-dir", str(books), "run", "say-hello", "--plain", "--kubeconfig", str(kubeconfig),
                     "--answers", str(answers), records=records)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "closed: success" in ran.stdout
    missing = opsconsole("--runbooks-dir", str(books), "run", "say-goodbye", "--plain", records=records)
    assert missing.returncode == 1
    assert missing.stderr == f"opsconsole: say-goodbye: no such runbook file, and no runbook with that ID in {books}/\n"


def test_an_answers_file_is_checked_whole_against_its_schema(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nfailure: {wait: rolback}\nclose: {outcome: good}\nconfrim: {x: yes}\n")
    result = opsconsole("run", "whatever.yaml", "--plain", "--answers", str(answers))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"opsconsole: {answers}: failure.wait: Input should be 'retry', 'rollback', 'continue' or 'abort'",
        f"{answers}: close.outcome: Input should be 'auto', 'success', 'rolled_back', 'partial' or 'aborted'",
        f"{answers}: confrim: Extra inputs are not permitted",
    ]
    schema = json.loads(opsconsole("schema", "--answers").stdout)
    assert set(schema["properties"]) == {"operator", "params", "approvals", "emergency", "confirm", "manual", "approve", "failure", "close"}
    assert all(p.get("description") for p in schema["properties"].values())
