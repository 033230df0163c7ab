"""Secrets planted everywhere a change can meet them, a real change run end to end, and not one of them on disk.

The table of forms (``secret_forms.py``, at least one for every redaction rule) is planted in:
(a) a command's output, on stdout and on stderr, among ordinary kubectl lines and over many reads;
(b) a command's arguments: each secret as a secret parameter's value, and each whole form as a plain parameter's
    value the command prints back (what the journal's ``command``/``argv`` and the params record must redact);
(c) a step's env values (plain parameters, and secret parameters under secret-looking names) that the command echoes;
(d) the runbook's own text: ``why``, a step's ``title`` and ``explain``.
The change runs as ``opsconsole run FILE --plain --answers ANSWERS`` in a child process, like an operator's; then
every file under the change's directory (journal, casts, artifacts, record.md, the runbook copy) is read as bytes and
searched for every planted secret. A second test does the same in-process with secrets hypothesis makes up.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from console.config import load_policy
from console.engine.redact import MASK
from console.engine.session import ChangeSession, StartRequest
from console.journal import events as ev
from console.journal.cast import read_cast
from console.journal.journal import verify
from console.journal.store import RecordStore

from .conftest import PY, REPO, every_file, runbook_doc, write_kubeconfig
from .secret_forms import FORMS, KUBECTL_LINES

# Prints every form given in a JSON file to stdout and to stderr, between ordinary kubectl lines, many times over, so
# the forms fall at every place in the runner's reads (one read is up to 64 KiB).
PRINTER = """\
import json, sys
forms, filler = json.load(open(sys.argv[1]))
for round in range(10):
    for i, text in enumerate(forms):
        for line in filler[i % len(filler):] + filler[:i % len(filler)]:
            print(line)
        print(text)
        print(text, file=sys.stderr)
    sys.stdout.flush()
"""

# Forms whose text is an argument as a whole: not anchored to the start of a line (a YAML line, an env entry over two
# lines) and not already shell-quoted, since the displayed command line quotes each argument once more.
ARGUMENT_FORMS = [f for f in FORMS if "\n" not in f.text and f.rule != "name-yaml-line" and "'\"'\"'" not in f.text]
# Secret parameters' values: each form's secret turned around, so the forms themselves are still left to the rules
# (a secret parameter's value is masked wherever it appears, which would hide whether a rule caught the form).
PARAM_SECRETS = [f"{form.secret[::-1]}~p{i}" for i, form in enumerate(FORMS)]


def _yaml_text(doc: dict[str, Any]) -> str:
    import io

    yaml = YAML()
    yaml.width = 4096  # one form per line, never folded
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _planted_runbook(forms_file: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The runbook planting every form, and the parameter values to start it with."""
    params: dict[str, Any] = {}
    values: dict[str, str] = {}
    for i, value in enumerate(PARAM_SECRETS):
        params[f"secret_{i}"] = {"type": "string", "secret": True}
        values[f"secret_{i}"] = value
    for i, form in enumerate(ARGUMENT_FORMS):
        params[f"form_{i}"] = {"type": "string"}
        values[f"form_{i}"] = form.text
    every_line = LiteralScalarString("\n".join(f.text for f in FORMS) + "\n")
    secret_args = [f"{{secret_{i}}}" for i in range(len(PARAM_SECRETS))]
    form_args = [f"{{form_{i}}}" for i in range(len(ARGUMENT_FORMS))]
    env = {f"PLANTED_{i}": f"{{form_{i}}}" for i in range(len(ARGUMENT_FORMS))}
    env.update({"DB_PASSWORD": "{secret_0}", "GITHUB_TOKEN": "{secret_1}", "AWS_SESSION_TOKEN": "{secret_2}"})
    echo_env = "".join(f'printf "%s\\n" "$PLANTED_{i}"; ' for i in range(len(ARGUMENT_FORMS)))
    echo_env += 'echo "DB_PASSWORD=$DB_PASSWORD"; echo "$GITHUB_TOKEN"; echo "AWS_SESSION_TOKEN: $AWS_SESSION_TOKEN" >&2'
    doc = runbook_doc(
        params=params,
        preconditions=[{"id": "evidence", "kind": "check", "title": FORMS[0].text, "capture": "artifact",
                        "run": [PY, "-c", PRINTER, str(forms_file)]}],
        steps=[
            {"id": "output", "title": ARGUMENT_FORMS[1].text, "explain": every_line, "confirm": "none",
             "run": [PY, "-c", PRINTER, str(forms_file)]},
            {"id": "secret-arguments", "title": ARGUMENT_FORMS[2].text, "confirm": "none",
             "run": ["sh", "-c", 'printf "%s\\n" "$@"; printf "%s\\n" "$@" >&2', "sh", *secret_args]},
            {"id": "printed-arguments", "title": ARGUMENT_FORMS[3].text, "confirm": "none",
             "run": ["sh", "-c", 'printf "%s\\n" "$@"; printf "%s\\n" "$@" >&2', "sh", *form_args]},
            {"id": "environment", "title": ARGUMENT_FORMS[4].text, "confirm": "none", "env": env,
             "run": ["sh", "-c", echo_env]},
        ],
        verification=[{"id": "after", "title": ARGUMENT_FORMS[5].text, "run": ["sh", "-c", 'printf "%s\\n" "$1"', "sh", "{form_6}"]}],
    )
    doc["why"] = every_line
    return doc, values


def _leaks(change_dir: Path, secrets: list[str]) -> list[tuple[str, str]]:
    return [
        (path.relative_to(change_dir).as_posix(), secret)
        for path in every_file(change_dir)
        for secret in secrets
        if secret.encode() in path.read_bytes()
    ]


def test_every_planted_form_is_redacted_from_every_file_of_a_change_run_by_the_cli(
    tmp_path: Path, kubeconfig: Path, records_dir: Path
) -> None:
    forms_file = tmp_path / "forms.json"
    forms_file.write_text(json.dumps([[f.text for f in FORMS], list(KUBECTL_LINES)]), encoding="utf-8")
    doc, values = _planted_runbook(forms_file)
    runbook = tmp_path / "planted.yaml"
    runbook.write_text(_yaml_text(doc), encoding="utf-8")
    answers = tmp_path / "answers.yaml"
    answers.write_text(_yaml_text({"operator": "alice", "params": values, "close": {"outcome": "auto"}}), encoding="utf-8")

    env = dict(os.environ, OPSCONSOLE_RECORDS=str(records_dir))
    done = subprocess.run(
        [PY, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(answers)],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (change_dir,) = list(records_dir.rglob("journal.jsonl"))
    change_dir = change_dir.parent

    secrets = [f.secret for f in FORMS] + PARAM_SECRETS
    leaks = _leaks(change_dir, secrets)
    assert leaks == [], "\n".join(f"{path}: {secret}" for path, secret in leaks)
    # Nor on the operator's screen.
    assert [s for s in secrets if s in done.stdout or s in done.stderr] == []

    # The sweep was not vacuous: every file was written, and each form arrived with its name kept and its secret masked.
    names = {p.relative_to(change_dir).as_posix() for p in every_file(change_dir)}
    assert {"journal.jsonl", "record.md", "artifacts/runbook.yaml", "artifacts/evidence.out"} <= names
    assert verify(change_dir / "journal.jsonl").ok
    casts = {p.stem.split("-", 1)[1]: p for p in (change_dir / "outputs").glob("*.cast")}
    assert set(casts) == {"evidence", "output", "secret-arguments", "printed-arguments", "environment", "after"}
    printed = _cast_text(casts["output"])
    for form in FORMS:
        assert (form.before + MASK + form.after).replace("\n", "\r\n") in printed, form
        if "\n" not in form.text:
            assert f"\x1b[31m{form.before + MASK + form.after}\x1b[0m" in printed, form  # stderr too
    assert printed.count(MASK) >= 2 * 10 * len(FORMS)
    arguments = _cast_text(casts["printed-arguments"])
    assert all(form.before + MASK + form.after in arguments for form in ARGUMENT_FORMS)
    assert _cast_text(casts["secret-arguments"]).count(MASK) >= 2 * len(FORMS)
    environment = _cast_text(casts["environment"])
    assert all(form.before + MASK + form.after in environment for form in ARGUMENT_FORMS)
    assert f"DB_PASSWORD={MASK}" in environment and f"AWS_SESSION_TOKEN: {MASK}" in environment
    journal = [json.loads(line) for line in (change_dir / "journal.jsonl").read_text().splitlines()]
    started = {e["data"]["step_id"]: e["data"] for e in journal if e["type"] == ev.STEP_STARTED}
    assert started["printed-arguments"]["argv"][4:] == [f.before + MASK + f.after for f in ARGUMENT_FORMS]
    assert started["secret-arguments"]["argv"][4:] == [MASK] * len(PARAM_SECRETS)
    assert started["output"]["title"] == ARGUMENT_FORMS[1].before + MASK + ARGUMENT_FORMS[1].after
    copy = (change_dir / "artifacts" / "runbook.yaml").read_text()
    assert all(form.before + MASK + form.after in copy for form in FORMS if "\n" not in form.text)


def _cast_text(path: Path) -> str:
    _header, events = read_cast(path)
    return "".join(text for _t, code, text in events if code == "o")


# -- made-up secrets ---------------------------------------------------------------------------------------------------

SECRET_NAMES = ["DB_PASSWORD", "POSTGRES_PASSWORD", "GITHUB_TOKEN", "AWS_SESSION_TOKEN", "AWS_SECRET_ACCESS_KEY",
                "MYSQL_PWD", "PGPASSWORD", "client_secret", "x-api-key", "REDIS_PASS", "STRIPE_API_KEY", "auth"]
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# A secret value: starts with a letter or digit, then the characters passwords and tokens are made of.
_VALUE = st.tuples(st.sampled_from(_ALNUM), st.text(alphabet=_ALNUM + "_-.+/=@%!*^~", min_size=7, max_size=30)).map("".join)


def _token(prefix: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=_ALNUM, min_size=size, max_size=size).map(lambda body: prefix + body)


_SHAPES = st.one_of(
    _token("ghp_", 36), _token("github_pat_", 40), _token("glpat-", 24), _token("sk_live_", 28), _token("AKIA", 16).map(str.upper),
    _token("xoxb-1234567890-", 24), _token("npm_", 36), _token("hvs.", 30), _token("AIza", 35), _token("SG.", 22).map(lambda t: t + "." + "x" * 43),
    st.tuples(_token("eyJ", 20), _token("", 30), _token("", 20)).map(".".join),
)
# (how a name and a value are written, whether the value may contain anything but the first character class)
_TEMPLATES = ["{n}={v}", "export {n}={v}", "{n}: {v}", '"{n}": "{v}"', "--{flag} {v}", "{n}='{v}'"]


@st.composite
def _planted(draw: st.DrawFn) -> list[tuple[str, str]]:
    """(line, secret) pairs: secret-named values in the usual notations, and token shapes on their own."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        name, value = draw(st.sampled_from(SECRET_NAMES)), draw(_VALUE)
        template = draw(st.sampled_from(_TEMPLATES))
        out.append((template.format(n=name, v=value, flag=name.lower().replace("_", "-")), value))
    for _ in range(draw(st.integers(0, 2))):
        token = draw(_SHAPES)
        out.append((f"{draw(st.sampled_from(['token', 'using', 'key:', '->']))} {token}", token))
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_planted(), _VALUE, _VALUE, st.sampled_from(KUBECTL_LINES))
def test_made_up_secrets_in_every_notation_leave_no_trace(planted: list[tuple[str, str]], password: str, token: str, ordinary: str) -> None:
    """Output, plain and secret parameters, env and titles: the change's files hold none of the made-up secrets."""
    lines = [line for line, _secret in planted]
    secrets = [secret for _line, secret in planted] + [password, token]
    text = LiteralScalarString("\n".join(lines) + "\n")
    doc = runbook_doc(
        params={"lines": {"type": "string"}, "db_password": {"type": "string"}, "api_token": {"type": "string", "secret": True}},
        steps=[
            {"id": "print", "title": lines[0], "explain": text, "confirm": "none",
             "run": ["sh", "-c", 'printf "%s\\n" "$1"; printf "%s\\n" "$1" >&2; echo "$2"; echo "$3"', "sh",
                     "{lines}", "DB_PASSWORD={db_password}", "{api_token}"]},
            {"id": "env", "confirm": "none", "env": {"DB_PASSWORD": "{db_password}", "API_TOKEN": "{api_token}", "LINES": "{lines}"},
             "run": ["sh", "-c", 'printf "%s\\n" "$1"; echo "PGPASSWORD=$DB_PASSWORD"; echo "$API_TOKEN"; printf "%s\\n" "$LINES"',
                     "sh", ordinary]},
        ],
    )
    doc["why"] = text
    with tempfile.TemporaryDirectory(prefix="opsconsole-sweep-") as tmp:
        work = Path(tmp)
        runbook = work / "runbook.yaml"
        runbook.write_text(_yaml_text(doc), encoding="utf-8")
        session = ChangeSession.start(
            StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                         params={"lines": "\n".join(lines), "db_password": password, "api_token": token},
                         kubeconfig=str(write_kubeconfig(work / "kubeconfig"))),
            store=RecordStore(work / "records"), policy=load_policy(),
        )
        try:
            seen: list[str] = []
            while session.next().kind == "run":
                outcome = session.run(listeners=[lambda line: seen.append(line.text)])
                assert outcome.passed, outcome.reason
            session.close("success")
            assert _leaks(session.ref.path, secrets) == []
            assert [s for s in secrets if any(s in line for line in seen)] == []
            assert ordinary in _cast_text(next((session.ref.path / "outputs").glob("*-env.cast")))
        finally:
            session.release()
