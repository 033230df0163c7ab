"""The runbook loader: every problem at once, each as ``file:line:col: field.path: message``, and nothing to run.

The fixture files under ``runbooks/`` are written so that the positions asserted here can be checked by eye:
count the columns on the quoted line of the fixture.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from console.runbook.loader import LoadedRunbook, Problem, RunbookError, load_runbook, load_runbook_text
from console.runbook.models import Runbook

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "runbooks"


def fixture(name: str) -> str:
    """A fixture's path relative to the repository root, as an author would pass it on the command line."""
    return str((FIXTURES / name).relative_to(HERE.parents[1]))


def problems_of(path: str) -> list[str]:
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    # The exception's text is the same list, one problem a line, so the CLI can print either.
    assert str(info.value).splitlines() == [str(p) for p in info.value.problems]
    return [str(p) for p in info.value.problems]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE.parents[1])


def test_every_problem_is_reported_in_one_run_with_line_col_and_path() -> None:
    f = fixture("bad-everything.yaml")
    assert problems_of(f) == [
        # risk: extreme, an invalid literal: the allowed values are listed
        f"{f}:10:9: metadata.risk: 'extreme' is not allowed: low, medium, high or critical",
        # owners: platform, wrong type
        f"{f}:12:11: metadata.owners: Input should be a valid list",
        # tilte: unknown field, pointed at the key, with the field it was probably meant to be
        f"{f}:13:3: metadata.tilte: unknown field 'tilte' (did you mean 'title'?)",
        # a default that does not fit its own pattern, pointed at the default's value
        f"{f}:15:38: params.namespace.default: default does not fit: parameter namespace: 'Not Valid' does not match ^[a-z0-9-]+$",
        f"{f}:16:41: params.replicas.secrett: unknown field 'secrett' (did you mean 'secret'?)",
        # the column is the '{' inside the double-quoted word, not the quote
        f"{f}:19:56: steps[0].run[4]: unknown parameter {{replica}} (did you mean {{replicas}}?)",
        f"{f}:20:14: steps[0].timeout: '5 minutes' is not a duration (use seconds or a string like 30s, 10m, 1h30m)",
        f"{f}:21:15: steps[0].rollback: rollback step 'undo-scale' does not exist under rollback.steps (scale)",
        f"{f}:22:5: steps[1]: a rollout step needs target: deployment/NAME, statefulset/NAME or daemonset/NAME",
        f"{f}:24:5: steps[2]: an observe step needs duration, such as 30m",
        f"{f}:26:5: steps[3]: confirm: typed needs confirm_word, the word the operator must type",
        # the '{' inside an unquoted word of a block sequence
        f"{f}:31:20: steps[3].run[3]: unknown parameter {{nmespace}} (did you mean {{namespace}}?)",
        f"{f}:35:5: steps[4].confim: unknown field 'confim' (did you mean 'confirm'?)",
        # duplicate ids across sections name where the id was first used
        f"{f}:38:11: rollback.steps[0].id: duplicate step id 'scale' (first used at line 18)",
        f"{f}:41:9: verification[0].id: duplicate step id 'wait' (first used at line 22)",
    ]


def test_problems_carry_their_parts() -> None:
    with pytest.raises(RunbookError) as info:
        load_runbook(fixture("bad-everything.yaml"))
    risk = info.value.problems[0]
    assert risk == Problem(fixture("bad-everything.yaml"), 10, 9, "metadata.risk", risk.message)
    lines = [p.line for p in info.value.problems]
    assert lines == sorted(lines)


def test_yaml_syntax_error_is_one_problem_at_its_mark() -> None:
    f = fixture("yaml-syntax-error.yaml")
    assert problems_of(f) == [f"{f}:5:43: (document): invalid YAML: mapping values are not allowed here"]


def test_duplicate_yaml_key_is_refused_at_the_second_key() -> None:
    f = fixture("yaml-duplicate-key.yaml")
    assert problems_of(f) == [
        (f'{f}:6:3: (document): invalid YAML: duplicate key: found duplicate key "id" with value "second" '
        '(original value: "first")')
    ]


def test_unknown_parameters_point_at_their_brace_however_the_string_is_written() -> None:
    f = fixture("placeholders.yaml")
    assert problems_of(f) == [
        f"{f}:19:20: steps[0].run[1]: unknown parameter {{nmespace}} (did you mean {{namespace}}?)",  # plain
        f"{f}:20:17: steps[0].run[2]: unknown parameter {{quoted}}",  # single-quoted
        f"{f}:22:16: steps[0].run[3]: unknown parameter {{folded}}",  # folded block (>-): the content line
        f"{f}:27:17: steps[1].instructions: unknown parameter {{nothere}}",  # literal block (|), second line
        f"{f}:29:26: steps[2].run[1]: unknown parameter {{esc}}",  # after \" escapes in a double-quoted string
        # {{literal}} is an escaped literal, not a parameter; the same name twice is reported twice, each in place
        f"{f}:29:47: steps[2].run[2]: unknown parameter {{twice}}",
        f"{f}:29:55: steps[2].run[2]: unknown parameter {{twice}}",
        # {context} is built in and jsonpath={.items[*]...} is not a placeholder; env values are checked too
        f"{f}:32:20: steps[3].env.TARGET: unknown parameter {{envvar}}",
    ]


HEAD = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata:
  id: small
  title: t
  component: web
  from: "1"
  to: "2"
  risk: low
  environments: [staging]
  owners: [platform]
"""


def test_missing_required_fields_name_the_field_at_its_parent() -> None:
    text = "apiVersion: opsconsole/v1\nkind: Runbook\nmetadata:\n  id: x\n  title: t\n"
    with pytest.raises(RunbookError) as info:
        load_runbook_text(text, "m.yaml")
    got = [str(p) for p in info.value.problems]
    assert "m.yaml:1:1: steps: required field 'steps' is missing" in got
    assert "m.yaml:4:3: metadata.component: required field 'component' is missing" in got
    assert "m.yaml:4:3: metadata.risk: required field 'risk' is missing" in got
    # 'from' is the name written in YAML (the model's field is from_version)
    assert "m.yaml:4:3: metadata.from: required field 'from' is missing" in got


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("steps:\n  - id: s\n    run: [x]\n    timeout: 10 min\n",
         "r.yaml:15:14: steps[0].timeout: '10 min' is not a duration (use seconds or a string like 30s, 10m, 1h30m)"),
        ("steps:\n  - id: s\n    kind: observe\n    duration: -5\n",
         "r.yaml:15:15: steps[0].duration: a duration cannot be negative"),
        ("steps:\n  - id: s\n    kind: rollout\n    target: pods/web\n",
         "r.yaml:13:5: steps[0]: a rollout step needs target: deployment/NAME, statefulset/NAME or daemonset/NAME"),
        ("steps:\n  - id: Bad_Id\n    run: [x]\n",
         "r.yaml:13:9: steps[0].id: String should match pattern '^[a-z0-9][a-z0-9-]*$'"),
        ("steps:\n  - id: s\n    run: [x]\n    confirm: maybe\n",
         "r.yaml:15:14: steps[0].confirm: 'maybe' is not allowed: none, yes or typed"),
        ("params:\n  count: {type: integer, default: three}\nsteps:\n  - id: s\n    run: [x, '{count}']\n",
         "r.yaml:13:35: params.count.default: default does not fit: parameter count: expected an integer, got 'three'"),
        ("params:\n  Bad-Name: {type: string}\nsteps:\n  - id: s\n    run: [x]\n",
         "r.yaml:13:3: params.Bad-Name: String should match pattern '^[a-z_][a-z0-9_]*$'"),
        ("steps: []\n", "r.yaml:12:8: steps: List should have at least 1 item after validation, not 0"),
    ],
    ids=["bad-duration", "negative-duration", "rollout-bad-target", "bad-step-id", "bad-confirm", "default-wrong-type",
         "bad-param-name", "no-steps"],
)
def test_single_problems(body: str, expected: str) -> None:
    with pytest.raises(RunbookError) as info:
        load_runbook_text(HEAD + body, "r.yaml")
    assert [str(p) for p in info.value.problems] == [expected]


def test_rollback_reference_with_no_rollback_steps_says_so() -> None:
    with pytest.raises(RunbookError) as info:
        load_runbook_text(HEAD + "steps:\n  - id: s\n    run: [x]\n    rollback: undo\n", "r.yaml")
    assert [str(p) for p in info.value.problems] == [
        ("r.yaml:15:15: steps[0].rollback: rollback step 'undo' does not exist under rollback.steps "
        "(there are no rollback steps)")
    ]


def test_rollback_must_name_a_rollback_step_not_any_step() -> None:
    body = "steps:\n  - id: s\n    run: [x]\n    rollback: t\n  - id: t\n    run: [y]\n"
    with pytest.raises(RunbookError) as info:
        load_runbook_text(HEAD + body, "r.yaml")
    assert [p.path for p in info.value.problems] == ["steps[0].rollback"]


def test_apply_must_name_a_plan_step_and_evidence_an_existing_step() -> None:
    body = (
        "steps:\n"
        "  - id: apply\n"
        "    kind: terraform\n"
        "    terraform: {action: apply, dir: tf, plan: nothing}\n"
        "evidence:\n"
        "  - id: out\n"
        "    from_step: ghost\n"
    )
    with pytest.raises(RunbookError) as info:
        load_runbook_text(HEAD + body, "r.yaml")
    assert [str(p) for p in info.value.problems] == [
        "r.yaml:15:47: steps[0].terraform.plan: 'nothing' is not a terraform plan step",
        "r.yaml:18:16: evidence[0].from_step: step 'ghost' does not exist",
    ]


def test_not_a_mapping_empty_missing_and_not_utf8(tmp_path: Path) -> None:
    for text in ("- a\n- b\n", "", "just a string\n"):
        with pytest.raises(RunbookError) as info:
            load_runbook_text(text, "x.yaml")
        assert [str(p) for p in info.value.problems] == [
            "x.yaml:1:1: (document): a runbook is a YAML mapping (apiVersion, kind, metadata, ...)"
        ]
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RunbookError) as info:
        load_runbook(missing)
    assert [str(p) for p in info.value.problems] == [f"{missing}:1:1: (document): no such file"]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"kind: Runbook\nwhy: caf\xe9\n")
    with pytest.raises(RunbookError) as info:
        load_runbook(latin)
    # the byte that is not UTF-8 is the 9th of line 2
    assert [str(p) for p in info.value.problems] == [f"{latin}:2:9: (document): the file is not UTF-8 text"]


def test_nothing_is_returned_from_an_invalid_runbook() -> None:
    # One problem among many valid fields is enough for the whole file to be refused.
    result: list[LoadedRunbook] = []
    text = Path(fixture("minimal.yaml")).read_text().replace("risk: low", "risk: extreme")
    with pytest.raises(RunbookError):
        result.append(load_runbook_text(text, "minimal.yaml"))
    assert result == []


def test_a_valid_runbook_loads_with_its_source_and_positions() -> None:
    path = fixture("minimal.yaml")
    loaded = load_runbook(path)
    raw = Path(path).read_bytes()
    assert isinstance(loaded.runbook, Runbook)
    assert loaded.path == Path(path)
    assert loaded.directory == Path(path).parent
    assert loaded.text == raw.decode()
    assert loaded.sha256 == hashlib.sha256(raw).hexdigest()
    rb = loaded.runbook
    assert (rb.metadata.id, rb.metadata.from_version, rb.metadata.risk) == ("minimal", "1.0.0", "low")
    assert rb.steps[0].timeout == 90  # 1m30s, in seconds
    assert rb.params["namespace"].default == "web"
    # Positions: the value of steps[0].run, and the key of metadata.risk, 1-based.
    assert loaded.positions.of(("steps", 0, "run")) == (22, 10)
    assert loaded.positions.of(("metadata", "risk"), key=True) == (10, 3)
    assert loaded.positions.line(("done_when",)) == 24


def test_yaml_1_2_words_stay_words() -> None:
    # YAML 1.1 would read `confirm: yes` as True and `on_failure: no`-like words as booleans; 1.2 does not.
    body = "steps:\n  - id: s\n    run: [x, 'y', yes, no, on]\n    confirm: yes\n"
    loaded = load_runbook_text(HEAD + body, "r.yaml")
    step = loaded.runbook.steps[0]
    assert step.confirm == "yes"
    assert step.run == ["x", "y", "yes", "no", "on"]


def test_step_defaults_follow_their_kind() -> None:
    body = (
        "steps:\n"
        "  - id: change\n    run: [kubectl, apply, -f, x.yaml]\n"
        "  - id: look\n    kind: check\n    run: [kubectl, get, pods]\n"
        "  - id: read-only-command\n    run: [kubectl, get, pods]\n    mutates: false\n"
        "rollback:\n  steps:\n    - id: undo\n      run: [kubectl, delete, -f, x.yaml]\n"
    )
    rb = load_runbook_text(HEAD + body, "r.yaml").runbook
    change, look, ro = rb.steps
    assert (change.is_mutating, change.confirmation("step")) == (True, "yes")
    assert (look.is_mutating, look.confirmation("step")) == (False, "none")
    assert (ro.is_mutating, ro.confirmation("step")) == (False, "none")
    # a mutating command in a read-only section (a precondition) asks nothing unless told to
    assert change.confirmation("precondition") == "none"
    assert rb.rollback_step("undo").confirmation("rollback") == "yes"
    assert rb.step("undo").id == "undo"
    with pytest.raises(KeyError):
        rb.step("ghost")
