"""The runbook format's retries, duration parameters, order, conditions and placeholder escapes: each refused where it
is wrong with ``file:line:col``, each in ``opsconsole schema`` with a description, and the record's rendering of
tries, skips and scaled durations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml  # YAML 1.1, as many editors and tools read it

from console.journal import events as ev
from console.journal.journal import Event
from console.review.render import render_record
from console.runbook.conditions import unmet
from console.runbook.durations import format_duration, seconds
from console.runbook.lint import lint
from console.runbook.loader import RunbookError, load_runbook, load_runbook_text, to_plain
from console.runbook.models import Param, json_schema
from console.runbook.params import ParamError, coerce, resolve

REPO = Path(__file__).resolve().parents[2]

HEAD = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: fmt, title: Format, component: web, from: "1", to: "2", risk: low, environments: [rehearsal], owners: [me]}
why: w
scope: s
blast_radius: b
done_when: [d]
"""


def problems(body: str) -> list[str]:
    with pytest.raises(RunbookError) as info:
        load_runbook_text(HEAD + body, "rb.yaml")
    return [str(p) for p in info.value.problems]


def findings(body: str, rule: str) -> list[str]:
    loaded = load_runbook_text(HEAD + body, "rb.yaml")
    return [str(f) for f in lint(loaded, only={rule}, warnings=True)]


# -- duration parameters ----------------------------------------------------------------------------------------


def test_a_default_below_its_minimum_is_refused_at_the_default() -> None:
    assert problems(
        "params:\n"
        "  watch_for: {type: duration, default: 1m, min: 5m}\n"
        "steps:\n"
        "  - {id: watch, kind: observe, duration: \"{watch_for}\"}\n"
    ) == ["rb.yaml:9:40: params.watch_for.default: default does not fit: parameter watch_for: 1m is shorter than its minimum of 5m"]


def test_a_duration_field_names_a_declared_duration_parameter() -> None:
    assert problems(
        "params:\n"
        "  n: {type: integer, default: 3}\n"
        "steps:\n"
        "  - {id: watch, kind: observe, duration: \"{watch}\"}\n"
        "  - {id: check, kind: check, run: [\"true\"], timeout: \"{n}\", retry: {attempts: 3, interval: \"{n}\"}}\n"
    ) == [
        "rb.yaml:11:42: steps[0].duration: unknown parameter {watch}; a duration names a declared parameter of type: duration",
        ("rb.yaml:12:54: steps[1].timeout: parameter n is of type integer: a duration names a parameter of type: duration, "
        "which the start form and --param hold to its min"),
        ("rb.yaml:12:92: steps[1].retry.interval: parameter n is of type integer: a duration names a parameter of type: "
        "duration, which the start form and --param hold to its min"),
    ]


def test_min_and_max_bound_only_durations() -> None:
    assert problems(
        "params:\n"
        "  n: {type: integer, default: 3, min: 5m}\n"
        "steps:\n"
        "  - {id: check, kind: check, run: [\"true\", \"{n}\"]}\n"
    ) == ["rb.yaml:9:6: params.n: min and max bound a duration parameter (type: duration)"]


def test_a_duration_value_is_held_to_its_bounds_and_written_the_one_way_kubectl_reads() -> None:
    p = Param(type="duration", min=300, max=3600)
    assert coerce("watch_for", p, "1h") == "1h" and coerce("watch_for", p, 600) == "10m"
    with pytest.raises(ParamError, match=r"^parameter watch_for: 0s is shorter than its minimum of 5m$"):
        coerce("watch_for", p, "0s")
    with pytest.raises(ParamError, match=r"^parameter watch_for: 2h is longer than its maximum of 1h$"):
        coerce("watch_for", p, "2h")
    with pytest.raises(ParamError, match="expected a duration such as 30s"):
        coerce("watch_for", p, "soon")
    assert format_duration(5430) == "1h30m30s" and seconds("{w}", {"w": "1h30m"}) == 5400 and seconds("90s", {}) == 90


# -- retries ------------------------------------------------------------------------------------------------------


def test_retry_needs_two_attempts_and_a_command() -> None:
    assert problems(
        "steps:\n"
        "  - {id: check, kind: check, run: [\"true\"], retry: {attempts: 1}}\n"
        "  - {id: watch, kind: observe, duration: 1m, retry: {attempts: 3}}\n"
    ) == [
        "rb.yaml:9:63: steps[0].retry.attempts: Input should be greater than or equal to 2",
        "rb.yaml:10:5: steps[1]: retry is for commands and checks; a observe step is not retried",
    ]


def test_lint_refuses_retry_on_a_mutating_step_unless_it_is_idempotent() -> None:
    body = (
        "steps:\n"
        "  - {id: restart, run: [kubectl, rollout, restart, deploy/web], retry: {attempts: 3}}\n"
        "  - {id: apply, run: [kubectl, apply, -f, m.yaml], idempotent: true, retry: {attempts: 3}}\n"
        "  - {id: look, run: [kubectl, get, pods], mutates: false, retry: {attempts: 3}}\n"
    )
    found = findings(body, "retry-mutating")
    assert len(found) == 1 and found[0].startswith("rb.yaml:9: retry-mutating: step 'restart' changes things"), found
    assert "idempotent: true" in found[0]


# -- conditions ---------------------------------------------------------------------------------------------------

TIER = "params:\n  tier: {type: string, choices: [primary, replica], default: primary}\n"


def test_a_condition_names_declared_parameters_with_values_that_fit() -> None:
    assert problems(
        TIER + "steps:\n"
        "  - {id: promote, run: [\"true\", \"{tier}\"], when: {tier: primry, teir: primary}}\n"
        "  - {id: either, run: [\"true\"], when: {tier: [primary, nope]}}\n"
    ) == [
        "rb.yaml:11:57: steps[0].when.tier: when: parameter tier: must be one of primary, replica, so the condition could never hold",
        ("rb.yaml:11:65: steps[0].when.teir: when: 'teir' is not a declared parameter (did you mean 'tier'?); a condition "
        "names one of: environment, tier"),
        ("rb.yaml:12:56: steps[1].when.tier[1]: when: parameter tier: must be one of primary, replica, so the condition "
        "could never hold"),
    ]


def test_lint_refuses_a_condition_on_a_gate_or_a_precondition() -> None:
    body = TIER + (
        "preconditions:\n"
        "  - {id: backup, kind: check, run: [\"true\"], when: {tier: primary}}\n"
        "gates:\n"
        "  - {id: healthy, kind: check, run: [\"true\"], when: {tier: primary}}\n"
        "steps:\n"
        "  - {id: promote, run: [\"true\", \"{tier}\"], when: {tier: primary}}\n"
    )
    found = findings(body, "when-on-gate")
    assert [f.split(": ")[0] for f in found] == ["rb.yaml:11", "rb.yaml:13"], found
    assert "a parameter could switch it off" in found[0] and "gate 'healthy'" in found[1]


def test_a_condition_says_why_it_skips() -> None:
    assert unmet({"tier": "primary"}, {"tier": "primary"}) is None
    assert unmet({"tier": ["primary", "replica"]}, {"tier": "replica"}) is None
    assert unmet({"tier": "primary"}, {"tier": "replica"}) == "skipped: when tier is primary, and tier is replica"
    assert unmet({"dry": True}, {}) == "skipped: when dry is true, and dry has no value"


# -- order --------------------------------------------------------------------------------------------------------


def test_an_order_lists_each_forward_section_once_and_keeps_steps_before_verification() -> None:
    steps = "steps:\n  - {id: s, kind: check, run: [\"true\"]}\n"
    assert problems("order: [gates, steps, steps]\n" + steps) == [
        "rb.yaml:8:8: order: order lists every forward section once (missing preconditions, verification; steps twice)"]
    assert problems("order: [gates, preconditions, verification, steps]\n" + steps) == [
        "rb.yaml:8:8: order: order puts verification after steps"]
    assert problems("order: [gates, preconditions, steps, backups]\n" + steps)[0].startswith(
        "rb.yaml:8:38: order[3]: 'backups' is not allowed: preconditions, gates, steps or verification")
    loaded = load_runbook_text(HEAD + "order: [gates, preconditions, steps, verification]\n" + steps, "rb.yaml")
    assert [section for section, _ in loaded.runbook.sections()] == ["gate", "precondition", "step", "verification", "rollback"]


def test_lint_suggests_gates_first_when_a_precondition_writes() -> None:
    body = (
        "preconditions:\n"
        "  - {id: scale-down, run: [kubectl, scale, deploy/web, --replicas=0]}\n"
        "gates:\n"
        "  - {id: healthy, kind: check, run: [\"true\"]}\n"
        "steps:\n"
        "  - {id: s, kind: check, run: [\"true\"]}\n"
    )
    found = findings(body, "order-fails-fast")
    assert len(found) == 1 and found[0].startswith("rb.yaml:9: warning: order-fails-fast: precondition 'scale-down'")
    assert "order: [gates, preconditions, steps, verification]" in found[0]
    assert findings("order: [gates, preconditions, steps, verification]\n" + body, "order-fails-fast") == []


# -- placeholders that collide -------------------------------------------------------------------------------------


def test_kubectl_jsonpath_end_is_refused_with_the_escape_in_the_message() -> None:
    found = problems(
        "steps:\n"
        "  - id: names\n"
        "    kind: check\n"
        "    run: [kubectl, get, pods, -o, \"jsonpath={range .items[*]}{.metadata.name}{end}\"]\n"
    )
    assert found == [
        ("rb.yaml:11:78: steps[0].run[4]: unknown parameter {end}; if this is kubectl's jsonpath {end}, write it {{end}} "
        "so it reaches the command as it stands")
    ]
    escaped = load_runbook_text(HEAD + (
        "steps:\n  - id: names\n    kind: check\n"
        "    run: [kubectl, get, pods, -o, \"jsonpath={range .items[*]}{.metadata.name}{{end}}\"]\n"), "rb.yaml")
    from console.runbook.params import render_argv

    assert render_argv(escaped.runbook.steps[0], {})[-1] == "jsonpath={range .items[*]}{.metadata.name}{end}"


def _properties_without_description(node: Any, where: str = "#") -> list[str]:
    missing: list[str] = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if not (isinstance(prop, dict) and prop.get("description")):
                missing.append(f"{where}/properties/{name}")
        for key, value in node.items():
            missing += _properties_without_description(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            missing += _properties_without_description(value, f"{where}/{i}")
    return missing


def test_every_property_of_the_schema_has_a_description() -> None:
    schema = json_schema()
    assert _properties_without_description(schema) == []
    step = schema["$defs"]["Step"]["properties"]
    assert {"retry", "idempotent", "when"} <= set(step) and "order" in schema["properties"]
    assert "duration" in schema["$defs"]["Param"]["properties"]["type"]["enum"]
    assert {"min", "max"} <= set(schema["$defs"]["Param"]["properties"])


@pytest.mark.parametrize("path", sorted((REPO / "runbooks").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_runbooks_read_the_same_in_yaml_1_1(path: Path) -> None:
    # confirm: yes unquoted is the boolean true to a YAML 1.1 reader; the console reads YAML 1.2, where it is a word.
    loaded = load_runbook(path)
    assert pyyaml.safe_load(path.read_text()) == to_plain(loaded.positions.root)


# -- the record -----------------------------------------------------------------------------------------------------


def _event(seq: int, type_: str, data: dict[str, Any]) -> Event:
    return Event(seq, f"2026-12-01T10:00:{seq:02d}.000000Z", type_, data, "", "")


def test_the_record_shows_each_try_skipped_steps_and_scaled_durations() -> None:
    timing = {"declared": {"duration_s": 600}, "factor": 4.0, "scaled": {"duration_s": 150.0}}
    events = [
        _event(1, ev.CHANGE_CREATED, {"change_id": "CHG-2026-0001", "runbook": {"title": "t"}, "environment": "rehearsal"}),
        _event(2, ev.STEP_SKIPPED, {"section": "step", "step_id": "promote", "reason": "skipped: when tier is primary, and tier is replica"}),
        _event(3, ev.STEP_STARTED, {"section": "step", "step_id": "watch", "kind": "observe", "command": "observe",
                                    "attempt": 1, "timing": timing}),
        _event(4, ev.STEP_FINISHED, {"section": "step", "step_id": "watch", "status": "passed", "duration_s": 150.2}),
        _event(5, ev.STEP_STARTED, {"section": "verification", "step_id": "health", "kind": "check", "command": "true",
                                    "attempt": 1, "retry": {"try": 1, "of": 3, "interval_s": 10}}),
        _event(6, ev.STEP_FINISHED, {"section": "verification", "step_id": "health", "status": "failed", "reason": "exit 1",
                                     "retrying": True}),
        _event(7, ev.STEP_STARTED, {"section": "verification", "step_id": "health", "kind": "check", "command": "true",
                                    "attempt": 2, "retry": {"try": 2, "of": 3, "interval_s": 10}}),
        _event(8, ev.STEP_FINISHED, {"section": "verification", "step_id": "health", "status": "passed"}),
    ]
    md = render_record(events, head="x")
    assert "`promote` | " in md and "skipped: when tier is primary, and tier is replica" in md
    assert "`health` (attempt 1 of 3)" in md and "`health` (attempt 2 of 3)" in md
    assert "- `watch`: duration 10m00s declared, 2m30s at the clock's speed (the rehearsal clock ran at 4x)" in md


def test_resolve_reports_a_short_duration_with_the_parameter_and_its_minimum(tmp_path: Path) -> None:
    loaded = load_runbook_text(HEAD + (
        "params:\n  watch_for: {type: duration, default: 30m, min: 5m}\n"
        "steps:\n  - {id: watch, kind: observe, duration: \"{watch_for}\"}\n"), "rb.yaml")
    assert resolve(loaded.runbook, {})["watch_for"] == "30m"
    with pytest.raises(ParamError, match=r"parameter watch_for: 1m is shorter than its minimum of 5m"):
        resolve(loaded.runbook, {"watch_for": "1m"})


def test_the_templates_optional_features_are_valid_as_written(tmp_path: Path) -> None:
    text = (REPO / "runbooks" / "_template.yaml").read_text()
    path = tmp_path / "template-with-features.yaml"
    path.write_text("\n".join(line.removeprefix("#~") for line in text.splitlines()) + "\n")
    loaded = load_runbook(path)
    assert lint(loaded, warnings=True) == []
    rb = loaded.runbook
    assert rb.order == ["gates", "preconditions", "steps", "verification"]
    assert rb.params["watch_for"].type == "duration" and rb.params["watch_for"].min == 300
    assert rb.step("promote").when == {"tier": "primary"} and rb.step("watch").duration == "{watch_for}"
    assert rb.step("check").retry is not None and rb.step("names").run[-1].endswith("{{end}}")


def test_the_schema_accepts_the_templates_optional_features() -> None:
    from ruamel.yaml import YAML

    from tests.unit.test_cli import check  # tests/unit's small JSON Schema checker

    text = (REPO / "runbooks" / "_template.yaml").read_text()
    data = to_plain(YAML(typ="rt").load("\n".join(line.removeprefix("#~") for line in text.splitlines())))
    schema = json_schema()
    assert check(schema, data, schema) == []
    data["steps"][1]["when"] = "tier == primary"  # the string form is not the format: editors say so too
    assert check(schema, data, schema) == ["$.steps[1].when: 'tier == primary' matches none of anyOf"]
