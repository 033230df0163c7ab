"""Runbook parameters: placeholders, typed values, and substitution that never lets a value become code.

The injection tests run what was rendered through a real ``/bin/sh`` and ``printf``, so "stays one literal
argument" is checked against a shell rather than against our own reading of shlex.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.runbook.loader import load_runbook_text
from console.runbook.models import Param, Runbook, Step
from console.runbook.params import (
    ParamError,
    Placeholder,
    as_text,
    coerce,
    display_command,
    parse_assignments,
    placeholders,
    render_argv,
    resolve,
    secret_values,
    substitute,
)

HOSTILE = ["x; rm -rf /", "$(id)", "`id`", "a b", "it's", 'say "hi"', "$HOME", "*", "-n", "\\", "line\nbreak", ""]


def step(run: list[str], *, shell: bool = False) -> Step:
    return Step(id="s", run=run, shell=shell)


# -- placeholders ----------------------------------------------------------------------------------------------


def test_placeholders_with_offsets() -> None:
    assert placeholders("deployment/{name} -n {ns}") == [Placeholder("name", 11), Placeholder("ns", 21)]
    assert placeholders("{a}{b}") == [Placeholder("a", 0), Placeholder("b", 3)]


@pytest.mark.parametrize(
    "text",
    [
        "{{name}}",  # escaped: a literal {name}
        '{"data":{"URL":"x"}}',  # JSON
        "jsonpath={.items[*].metadata.name}",  # kubectl jsonpath
        "${{HOME}}",  # how a shell step writes ${HOME}
        "{1}",  # names start with a letter or _
        "{ name }",
        "{}",
    ],
)
def test_not_placeholders(text: str) -> None:
    assert placeholders(text) == []


# -- substitution ----------------------------------------------------------------------------------------------


def test_escaped_braces_stay_literal() -> None:
    assert substitute("{{name}} is {name}", {"name": "web"}) == "{name} is web"
    assert substitute("echo ${{HOME}}", {}) == "echo ${HOME}"
    assert substitute("{{name}}", {}) == "{name}"  # an escaped name needs no value


def test_json_braces_are_untouched() -> None:
    patch = '{"data":{"OLLAMA_URL":"{url}"},"spec":{"replicas":3}}'
    assert substitute(patch, {"url": "http://x:1"}) == '{"data":{"OLLAMA_URL":"http://x:1"},"spec":{"replicas":3}}'
    assert substitute("jsonpath={.items[*].metadata.name}", {}) == "jsonpath={.items[*].metadata.name}"


def test_unknown_name_raises() -> None:
    with pytest.raises(ParamError, match=r"unknown parameter \{nope\}"):
        substitute("a {nope}", {"name": "x"})


def test_values_are_not_substituted_again() -> None:
    # A value that looks like a placeholder is text: one pass, no recursion.
    assert substitute("{a}", {"a": "{b}", "b": "boom"}) == "{b}"


@pytest.mark.parametrize("value", HOSTILE)
def test_argv_substitution_keeps_a_value_one_literal_argument(value: str) -> None:
    argv = render_argv(step(["printf", "[%s]\\n", "{v}", "--flag={v}"]), {"v": value})
    assert argv == ["printf", "[%s]\\n", value, f"--flag={value}"]
    # And a real process receives exactly those arguments: nothing split, nothing expanded.
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out == f"[{value}]\n[--flag={value}]\n"


@pytest.mark.parametrize("value", HOSTILE)
def test_shell_steps_quote_every_value(value: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"{value}; touch {marker}"
    argv = render_argv(step(["printf", "'[%s]\\n'", "{v}", "|", "cat"], shell=True), {"v": hostile})
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2] == f"printf '[%s]\\n' {shlex.quote(hostile)} | cat"
    # The shell still does shell things with the runbook's own words (the pipe), never with the value.
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out == f"[{hostile}]\n"
    assert not marker.exists()


def test_shell_keeps_escaped_braces_and_quotes_inside_a_word() -> None:
    argv = render_argv(step(["echo", "{{v}}", "name={v}"], shell=True), {"v": "$(id)"})
    assert argv[2] == "echo {v} name='$(id)'"
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out == "{v} name=$(id)\n"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_shell_quoting_round_trips_any_value(value: str) -> None:
    line = render_argv(step(["cmd", "{v}", "pre-{v}-post"], shell=True), {"v": value})[2]
    assert shlex.split(line) == ["cmd", value, f"pre-{value}-post"]


def test_render_argv_of_a_step_without_run() -> None:
    assert render_argv(Step(id="w", kind="observe", duration=60), {}) == []


def test_display_command_quotes_only_where_needed() -> None:
    assert display_command(["kubectl", "get", "pods", "-n", "web"]) == "kubectl get pods -n web"
    assert display_command(["echo", "x; rm -rf /", "$(id)"]) == "echo 'x; rm -rf /' '$(id)'"


# -- typed values ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "raw", "expected"),
    [
        (Param(type="integer"), "42", 42),
        (Param(type="integer"), 7, 7),
        (Param(type="number"), "1.5", 1.5),
        (Param(type="number"), 2, 2.0),
        (Param(type="boolean"), "yes", True),
        (Param(type="boolean"), "False", False),
        (Param(type="boolean"), "1", True),
        (Param(type="boolean"), False, False),
        (Param(type="string"), 5, "5"),
        (Param(type="string", pattern="^[a-z0-9-]+$"), "web-1", "web-1"),
        (Param(type="string", choices=["staging", "production"]), "staging", "staging"),
        (Param(type="integer", choices=[1, 3, 5]), "3", 3),
    ],
)
def test_coerce_accepts(param: Param, raw: object, expected: object) -> None:
    got = coerce("p", param, raw)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("param", "raw", "message"),
    [
        (Param(type="integer"), "three", "parameter p: expected an integer, got 'three'"),
        (Param(type="integer"), "1.5", "parameter p: expected an integer, got '1.5'"),
        (Param(type="integer"), True, "parameter p: expected an integer, got True"),
        (Param(type="number"), "fast", "parameter p: expected a number, got 'fast'"),
        (Param(type="boolean"), "maybe", "parameter p: expected true or false, got 'maybe'"),
        (Param(type="string"), True, "parameter p: expected a string, got True"),
        (Param(type="string"), ["a"], "parameter p: expected a string, got ['a']"),
        (Param(type="string", pattern="^[a-z0-9-]+$"), "Web 1", "parameter p: 'Web 1' does not match ^[a-z0-9-]+$"),
        # the pattern must match the whole value, not a part of it
        (Param(type="string", pattern="[a-z]+"), "abc; rm", "parameter p: 'abc; rm' does not match [a-z]+"),
        (Param(type="string", choices=["staging", "production"]), "prod", "parameter p: must be one of staging, production"),
        (Param(type="integer", choices=[1, 3, 5]), "2", "parameter p: must be one of 1, 3, 5"),
        # a secret value is never repeated in an error, which may be printed or journaled
        (Param(type="string", pattern="^[a-z]+$", secret=True), "Hunter2", "parameter p: [secret] does not match ^[a-z]+$"),
    ],
)
def test_coerce_refuses_with_a_clear_message(param: Param, raw: object, message: str) -> None:
    with pytest.raises(ParamError) as info:
        coerce("p", param, raw)
    assert str(info.value) == message


def test_as_text_writes_booleans_like_yaml() -> None:
    assert (as_text(True), as_text(False), as_text(3), as_text(1.5), as_text("x")) == ("true", "false", "3", "1.5", "x")


# -- resolving a runbook's parameters --------------------------------------------------------------------------

RUNBOOK = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: p, title: t, component: web, from: "1", to: "2", risk: low, environments: [s], owners: [o]}
params:
  namespace: {type: string, default: web, pattern: "^[a-z0-9-]+$"}
  replicas: {type: integer, default: 3}
  dry_run: {type: boolean, default: false}
  token: {type: string, secret: true}
  note: {type: string, required: false}
steps:
  - id: s
    run: [deploy, "{namespace}", "{replicas}", "{dry_run}", "{token}", "{note}"]
"""


def runbook() -> Runbook:
    return load_runbook_text(RUNBOOK, "p.yaml").runbook


def test_resolve_uses_defaults_given_values_and_builtins() -> None:
    values = resolve(runbook(), {"token": "s3cr3t", "replicas": "5"}, {"context": "rehearsal"})
    assert values == {"namespace": "web", "replicas": "5", "dry_run": "false", "token": "s3cr3t", "context": "rehearsal"}
    # not required and not given: absent, so a command using it fails to render rather than running with ""
    with pytest.raises(ParamError, match=r"unknown parameter \{note\}"):
        render_argv(runbook().steps[0], values)


def test_resolve_reports_every_problem_together() -> None:
    with pytest.raises(ParamError) as info:
        resolve(runbook(), {"replicas": "many", "namespace": "Bad NS", "colour": "red"})
    assert str(info.value) == (
        "unknown parameter colour (this runbook takes: namespace, replicas, dry_run, token, note); "
        "parameter namespace: 'Bad NS' does not match ^[a-z0-9-]+$; "
        "parameter replicas: expected an integer, got 'many'; "
        "parameter token is required"
    )


def test_secret_values_lists_only_secrets_that_have_a_value() -> None:
    rb = runbook()
    values = resolve(rb, {"token": "s3cr3t", "note": "public"})
    assert secret_values(rb, values) == ["s3cr3t"]
    assert secret_values(rb, {"namespace": "web"}) == []


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    for bad in ("novalue", "=x"):
        with pytest.raises(ParamError, match="is not of the form name=value"):
            parse_assignments([bad])
