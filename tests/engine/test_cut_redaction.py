"""Text cut or split on its way to the record is redacted as a whole first: a secret never survives in part
because the piece holding the rest of it was redacted on its own, or because a cut left too little of it for its
rule to see."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from console.journal.cast import read_cast

from .conftest import every_file, runbook_doc

KEY_BODY = ("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            "QyNTUxOQAAACBPlantedKeyBodyLineTwoQmT5ZqR8vLw3NcXy2KpJdHs9FgTaEoVu")
KEY_CONFIG = f"""\
variable "signing_key" {{
  type    = string
  default = "x"
  validation {{
    condition     = length(var.signing_key) > 5
    error_message = <<-EOT
      The signing key is too short; the one on file is
      -----BEGIN OPENSSH PRIVATE KEY-----
      {KEY_BODY[0]}
      {KEY_BODY[1]}
      -----END OPENSSH PRIVATE KEY-----
    EOT
  }}
}}
"""


@pytest.mark.skipif(shutil.which("terraform") is None and shutil.which("tofu") is None, reason="no terraform on PATH")
def test_a_private_key_in_a_terraform_diagnostic_is_masked_whole_in_the_steps_cast(start, tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "main.tf").write_text(KEY_CONFIG)
    doc = runbook_doc([{"id": "plan", "kind": "terraform", "confirm": "none",
                        "terraform": {"action": "plan", "dir": "tf", "driver": "binary"}}])
    s = start(doc)
    s.run()
    assert s.events[-1].data["exit_code"] == 1
    change_dir = s.ref.path
    _, cast_events = read_cast(next((change_dir / "outputs").glob("*plan.cast")))
    cast_text = "".join(text for _t, code, text in cast_events if code == "o")
    assert "Invalid value for variable" in cast_text and "The signing key is too short" in cast_text
    assert "[REDACTED]" in cast_text
    leaks = [(p.relative_to(change_dir).as_posix(), part) for p in every_file(change_dir)
             for part in (*KEY_BODY, "END OPENSSH PRIVATE KEY") if part.encode() in p.read_bytes()]
    assert leaks == []


PROVISIONER_CONFIG = """\
resource "terraform_data" "host" {
  provisioner "local-exec" {
    command = "cat key.pem; echo done printing"
  }
}
"""


@pytest.mark.skipif(shutil.which("terraform") is None and shutil.which("tofu") is None, reason="no terraform on PATH")
def test_a_private_key_printed_a_line_a_message_is_masked_in_the_cast_and_the_raw_stream(start, tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    (tmp_path / "tf" / "main.tf").write_text(PROVISIONER_CONFIG)
    (tmp_path / "tf" / "key.pem").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n{}\n-----END OPENSSH PRIVATE KEY-----\n".format(*KEY_BODY))
    doc = runbook_doc([{"id": "apply", "kind": "terraform", "confirm": "none",
                        "terraform": {"action": "apply", "dir": "tf", "driver": "binary"}}])
    s = start(doc)
    s.run()
    change_dir = s.ref.path
    _, cast_events = read_cast(next((change_dir / "outputs").glob("*apply.cast")))
    cast_text = "".join(text for _t, code, text in cast_events if code == "o")
    assert "(local-exec): done printing" in cast_text and "[REDACTED]" in cast_text
    leaks = [(p.relative_to(change_dir).as_posix(), part) for p in every_file(change_dir)
             for part in (*KEY_BODY, "END OPENSSH PRIVATE KEY") if part.encode() in p.read_bytes()]
    assert leaks == []


GITHUB_TOKEN = "ghp_Q7xZ" + "Q7xZ" * 8  # 40 characters: the GitHub-token rule needs all of them


def test_a_token_the_notify_output_cut_goes_through_leaves_no_prefix_in_the_journal(start, clock, tmp_path: Path) -> None:
    from console.engine.escalation import MAX_OUTPUT
    from console.journal import events as ev

    from .conftest import events_of, run_forward
    from .test_escalation_notify import BROKEN, policy_text

    pager = tmp_path / "pagerctl"
    pager.write_text(f"#!/bin/sh\nprintf '%s' '{'x' * (MAX_OUTPUT - 15)}'; echo ' {GITHUB_TOKEN} tail'\n")
    pager.chmod(0o755)
    s = start(BROKEN, clock=clock, policy_text=policy_text(str(pager)))
    run_forward(s, until="failure")
    clock.advance(minutes=16)
    s.check_escalations()
    s.wait_for_notifications()
    [notified] = events_of(s, ev.ESCALATION_NOTIFIED)
    assert notified.data["output"].startswith("x" * 100) and "more characters not kept" in notified.data["output"]
    journal = (s.ref.path / "journal.jsonl").read_text()
    assert GITHUB_TOKEN[:12] not in journal and "[REDACT" not in journal.replace("[REDACTED]", "")


def test_a_cut_never_leaves_half_a_mask_and_a_text_ended_early_keeps_no_start_of_a_secret() -> None:
    from console.engine.redact import MASK, Redactor, cut_redacted

    text = f"token {GITHUB_TOKEN} after"
    redactor = Redactor(["PlantedParamSecret42"])
    for limit in range(len(text) + 1):
        kept = redactor.redact_cut(text, limit)
        assert len(kept) <= limit and GITHUB_TOKEN[:8] not in kept
        assert kept in ("token "[:limit], "token ", f"token {MASK}"[:limit]) or kept.startswith(f"token {MASK}")
        assert "[RED" not in kept.replace(MASK, "")
    assert cut_redacted(f"ab{MASK}cd", 5) == "ab" and cut_redacted(f"ab{MASK}cd", 12) == f"ab{MASK}"
    assert redactor.redact_cut("password is PlantedPar", 100, ended_early=True) == f"password is {MASK}"
    assert redactor.redact_cut("password is Pla", 100, ended_early=True) == "password is Pla"  # shorter than any secret


def _dead_kubeconfig(path: Path, url_path: str) -> dict[str, str]:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:9/{url_path}"}}}}]\n'
        "users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n")
    return {**os.environ, "KUBECONFIG": str(path)}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl on PATH")
def test_a_token_in_kubectls_complaint_cut_for_a_refused_restore_leaves_no_prefix(tmp_path: Path) -> None:
    from console.engine.redact import Redactor
    from console.engine.restore import RestorePlan, RestoreRefused, live_objects

    plan = RestorePlan([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "default"}}], [])
    # kubectl names the server's URL when it cannot reach it: find where, then pad the URL so the message's cut at
    # 300 characters falls 20 characters into the token.
    with pytest.raises(RestoreRefused) as probe:
        live_objects(plan, _dead_kubeconfig(tmp_path / "probe", "probe"))
    at = str(probe.value).index("/probe") + 1 - len("the live objects could not be read: ")
    assert at < 280
    env = _dead_kubeconfig(tmp_path / "kubeconfig", "p" * (280 - at) + "/" + GITHUB_TOKEN)
    with pytest.raises(RestoreRefused) as refused:
        live_objects(plan, env, Redactor())
    assert "connection refused" not in str(refused.value)  # the cut came before the end
    assert "/ppp" in str(refused.value) and GITHUB_TOKEN[:7] not in str(refused.value)


def test_kubectls_first_line_in_a_start_requests_preflight_keeps_no_prefix_of_a_cut_token() -> None:
    # kubectl's own complaints do not print a secret on demand; the line is given as kubectl would write it.
    from console.engine.redact import Redactor
    from console.engine.signed_start import _first_line

    said = "E1202 noise\nerror: " + "y" * 100 + f" {GITHUB_TOKEN} rest\n"
    short = _first_line(said, Redactor(["PlantedParamSecret42"]))
    assert short.startswith("error: yyy") and short.endswith("...") and len(short) <= 120
    assert GITHUB_TOKEN[:6] not in short and "[RED" not in short.replace("[REDACTED]", "")
    param = _first_line("error: " + "y" * 105 + " PlantedParamSecret42 rest", Redactor(["PlantedParamSecret42"]))
    assert "Planted" not in param


def test_an_event_data_error_names_a_long_value_by_its_size_not_by_a_cut_of_it() -> None:
    from console.journal.event_data import EventDataError, check_data

    with pytest.raises(EventDataError) as refused:
        check_data("step.finished", {"section": "step", "step_id": "s", "status": "y" * 60 + GITHUB_TOKEN})
    assert "ghp_" not in str(refused.value) and "yyyy" not in str(refused.value)
    assert "(given a str of 102 characters)" in str(refused.value)


def test_a_start_request_difference_keeps_no_start_of_a_token_its_cut_goes_through() -> None:
    from console.governance import request as requests

    value = "v" * 45 + " " + GITHUB_TOKEN + " tail"  # the token runs across the cut
    diff = requests._diff({"note": value}, {"note": "other"}, "parameters")
    assert diff is not None and diff.path == "parameters.note"
    assert diff.signed == "'" + "v" * 45 + " ..."
    assert "ghp_" not in diff.signed and "ghp_" not in diff.sentence()
    masked = requests._diff({"note": "m" * 70 + " [REDACTED] tail"}, {"note": "x"}, "parameters")
    assert masked is not None and "[RED" not in masked.signed and masked.signed.endswith("m ...")


# One ConfigMap List of 200 KiB on a single line, as `kubectl get -o json` of a big object can be when compacted.
BIG_JSON_LINE = r"""
import json, sys
items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "default"},
          "data": {"blob": "q" * 1000 + str(i)}} for i in range(200)]
sys.stdout.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, separators=(",", ":")) + "\n")
sys.stdout.write("after\n")
"""


def test_a_json_line_longer_than_the_runner_holds_is_one_line_in_its_backup_and_restores(start, tmp_path: Path) -> None:
    import sys

    from console.engine.restore import restore_manifest
    from console.engine.runner import MAX_LINE

    script = tmp_path / "big_json.py"
    script.write_text(BIG_JSON_LINE)
    doc = runbook_doc([{"id": "backup", "run": [sys.executable, str(script)], "capture": "artifact", "backup": True,
                        "confirm": "none"}])
    s = start(doc)
    s.run()
    [saved] = [e.data for e in s.events if e.type == "artifact.saved" and e.data.get("step_id") == "backup"]
    text = (s.ref.path / saved["file"]["path"]).read_text()
    first, second, rest = text.split("\n")
    assert len(first) > 3 * MAX_LINE and second == "after" and rest == ""
    plan = restore_manifest(first, "backup")
    assert [o["metadata"]["name"] for o in plan.objects] == [f"cm-{i}" for i in range(200)]
    assert plan.objects[199]["data"]["blob"] == "q" * 1000 + "199"
