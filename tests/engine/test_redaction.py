"""Redaction: every rule on its own, the RE2 prefilter against Python alone, and a whole change with secrets planted.

The end-to-end test runs a real command printing every kind of secret (tests/engine/fixtures/print_secrets.py),
puts secrets into the command line, the runbook, a failure reason, a break-glass reason, a manual note, a note
and the follow-ups, then walks every file under the change's directory and greps its bytes for each secret.
"""

from __future__ import annotations

import json
import random
import re
import runpy
import subprocess
from pathlib import Path

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from console.engine.redact import MASK, Redactor, StreamRedactor, apply_spans, mask_spans, merge_spans
from console.engine.runbook_secrets import literal_secrets
from console.engine.runner import CommandRunner, OutputLine
from console.engine.secret_rules import RULES
from console.engine.secret_scan import _PY_SPACE, locator, policy_screen
from console.journal import events as ev
from console.journal.cast import read_cast
from console.journal.journal import verify
from console.runbook.loader import load_runbook

from .conftest import FIXTURES, PY, REPO, events_of, every_file, runbook_doc
from .secret_forms import FORMS, KUBECTL_LINES, Form

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


def test_a_secret_value_is_masked_as_the_tools_print_it_encoded() -> None:
    """A Secret's data is the value base64-encoded (kubectl -o jsonpath={.data.KEY} prints just that), echo | base64
    adds a newline, JSON escapes quotes and URLs percent-encode; inside a longer base64 text (a connection string
    holding the password) the value's own characters are masked wherever it starts."""
    import base64
    import json
    from urllib.parse import quote

    secret = 'N3w"Pass@w0rd-rot8'
    r = Redactor([secret])
    for shown in (base64.b64encode(secret.encode()).decode(), base64.b64encode(secret.encode() + b"\n").decode(),
                  json.dumps({"p": secret}), quote(secret, safe="")):
        assert secret not in r.redact(shown) and MASK in r.redact(shown), shown
    for prefix in ("", "x", "xy", "postgres://app:"):
        blob = base64.b64encode(f"{prefix}{secret}@db:5432/app".encode()).decode()
        masked = r.redact(blob)
        assert MASK in masked, prefix
        # What is left around the mask decodes to no more than the text around the secret.
        assert all(part not in base64.b64encode(secret.encode()).decode() for part in masked.split(MASK) if len(part) > 8)
    # Ordinary output is left alone, and a value too short for its base64 pieces to be safe masks only whole.
    assert r.redact("web-7c9 3/3 Running 0 4d") == "web-7c9 3/3 Running 0 4d"
    assert Redactor(["abcd"]).redact("YWJjZA== and QWxhZGRpbg==") == f"{MASK} and QWxhZGRpbg=="


@settings(max_examples=150, deadline=None)
@given(secrets=st.lists(st.text(min_size=4, max_size=24).filter(lambda v: v.strip()), min_size=1, max_size=6),
       filler=st.lists(st.text(max_size=40), max_size=6), picks=st.lists(st.integers(0, 50), max_size=8))
def test_the_screen_over_secret_values_finds_what_looking_for_each_finds(secrets: list[str], filler: list[str],
                                                                        picks: list[int]) -> None:
    """The one RE2 pass that says whether a text holds any secret value (or an encoding of one) never says no to a
    text in which a value is: with it and without it, redaction is the same."""
    import base64

    candidates = [*secrets, *(base64.b64encode(v.encode("utf-8", "surrogatepass")).decode() for v in secrets)]
    pieces = [*filler, *(candidates[i % len(candidates)] for i in picks)]
    text = " ".join(random.Random(len(pieces)).sample(pieces, len(pieces)))
    assert Redactor(secrets).redact(text) == Redactor(secrets, prefilter=False).redact(text)


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


# -- the rule table -------------------------------------------------------------------------------------------------

RULE_NAMES = [rule.name for rule in RULES]


def test_every_rule_has_a_concrete_form_and_a_known_source() -> None:
    assert sorted({form.rule for form in FORMS}) == sorted(RULE_NAMES)
    assert len(RULE_NAMES) == len(set(RULE_NAMES))
    assert all(rule.source for rule in RULES)
    # The detect-secrets detectors ported, by the class names their rules credit.
    credited = " ".join(rule.source for rule in RULES)
    for detector in ("AWSKeyDetector", "ArtifactoryDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
                     "CloudantDetector", "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector",
                     "IbmCloudIamDetector", "IbmCosHmacDetector", "JwtTokenDetector", "MailchimpDetector", "NpmDetector",
                     "OpenAIDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector", "SoftlayerDetector",
                     "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector", "TwilioKeyDetector"):
        assert detector in credited, detector


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f"{f.rule}:{f.text[:24]}")
def test_each_rule_masks_its_form_and_keeps_the_name(form: Form) -> None:
    expected = form.before + MASK + form.after
    assert Redactor().redact(form.text) == expected
    assert Redactor(prefilter=False).redact(form.text) == expected
    # The form's own rule is what finds it (not a neighbour that happens to cover it), exactly over the secret.
    index = RULE_NAMES.index(form.rule)
    rx = re.compile(RULES[index].pattern, re.ASCII | re.MULTILINE)
    secret = (len(form.before), len(form.before) + len(form.secret))
    assert secret in [(m.end(1) if rx.groups else m.start(), m.end()) for m in rx.finditer(form.text)]


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f"{f.rule}:{f.text[:24]}")
def test_each_prefilter_hits_no_later_than_its_exact_pattern(form: Form) -> None:
    rule = RULES[RULE_NAMES.index(form.rule)]
    exact = re.compile(rule.pattern, re.ASCII | re.MULTILINE).search(form.text)
    screen = re2.compile("(?m)" + rule.prefilter).search(form.text.encode())
    assert exact is not None and screen is not None
    assert screen.start() <= exact.start()


@pytest.mark.parametrize("line", KUBECTL_LINES)
def test_ordinary_kubectl_output_is_left_alone(line: str) -> None:
    assert Redactor().redact(line) == line
    assert Redactor(prefilter=False).redact(line) == line
    assert stream(line) == [line]


def test_the_kubectl_lines_pass_untouched_as_one_batch_too() -> None:
    batch = "\n".join(KUBECTL_LINES)
    assert Redactor().redact(batch) == batch


_NOISE = st.lists(
    st.sampled_from([*"abcXYZ019 _-=:\"'/@.{}\t\v\x1cé€\u2028", "token", "password", "mysql", "-p", "://", "eyJ"]), max_size=40
).map("".join)
_LINES = st.lists(
    st.one_of(st.sampled_from(FORMS).map(lambda f: f.text), st.sampled_from(KUBECTL_LINES), _NOISE), max_size=25
)


@settings(max_examples=300, deadline=None)
@given(_LINES)
def test_the_re2_prefilter_changes_nothing_but_speed(lines: list[str]) -> None:
    """Over random mixes of secret forms, kubectl lines and noise, with and without the prefilter: the same text."""
    text = "\n".join(lines)
    once = Redactor().redact(text)
    assert once == Redactor(prefilter=False).redact(text)
    assert Redactor().redact(once) == once  # the journal redacts values that were redacted already: nothing moves


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FORMS), min_size=1, max_size=12), st.lists(st.sampled_from(KUBECTL_LINES), max_size=12),
       st.randoms(use_true_random=False))
def test_no_planted_form_survives_a_batch(forms: list[Form], ordinary: list[str], rnd) -> None:
    lines = [f.text for f in forms] + ordinary
    rnd.shuffle(lines)
    out = Redactor().redact("\n".join(lines))
    for form in forms:
        assert form.secret not in out, form
    for line in ordinary:
        assert line in out.split("\n")


def test_a_secret_at_the_end_of_a_large_noisy_batch_is_found() -> None:
    """The RE2 set's DFA over half a megabyte of varied text still reports the one rule that matches at its end."""
    rnd = random.Random(7)
    noise = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-=:./@\"'") for _ in range(500_000))
    lines = [noise[i : i + 100] for i in range(0, len(noise), 100)]
    text = "\n".join([*lines, "export GITHUB_TOKEN=" + "ghp_" + "Z" * 36])
    out = Redactor().redact(text)
    assert out.endswith(f"export GITHUB_TOKEN={MASK}")
    assert out.split("\n")[:-1] == Redactor(prefilter=False).redact("\n".join(lines)).split("\n")


def test_non_ascii_batches_find_the_same_secrets() -> None:
    text = "\n".join(f"é {form.text} ü" if "\n" not in form.text else form.text for form in FORMS)
    out = Redactor().redact(text)
    assert out == Redactor(prefilter=False).redact(text)
    assert not [form.secret for form in FORMS if form.secret in out]
    # A lone surrogate (bytes kept by surrogateescape) is no UTF-8 for RE2: such a text is searched by Python alone.
    assert Redactor([], [r"(?i)(x-api-key:\s*)\S+"]).redact("DB_PASSWORD=hunter2 \udcff X-Api-Key: abc") == (
        f"DB_PASSWORD={MASK} \udcff X-Api-Key: {MASK}")


def test_without_google_re2_redaction_falls_back_to_python_re_with_the_same_result() -> None:
    """A fresh interpreter where ``import re2`` fails: every form is still masked, by Python re alone."""
    script = (
        "import json, sys\n"
        "sys.modules['re2'] = None  # makes 'import re2' raise ImportError\n"
        "from console.engine import redact, secret_scan\n"
        "assert secret_scan.re2 is None and secret_scan.policy_screen('x-[0-9]+') is None\n"
        "texts = json.loads(sys.stdin.read())\n"
        "r = redact.Redactor([], [r'(?i)(x-api-key:\\s*)\\S+'])\n"
        "print(json.dumps({'out': [r.redact(t) for t in texts],\n"
        "                  'stateful': r.redact_batch('- name: DB_PASSWORD\\n  value: x') is None}))\n"
    )
    texts = [form.text for form in FORMS] + ["X-Api-Key: zzz999"]
    done = subprocess.run([PY, "-c", script], input=json.dumps(texts), capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["out"] == [Redactor([], [r"(?i)(x-api-key:\s*)\S+"]).redact(t) for t in texts]
    assert result["out"][-1] == f"X-Api-Key: {MASK}" and result["stateful"]


# -- policy patterns --------------------------------------------------------------------------------------------------


def test_the_policy_screen_uses_pythons_own_whitespace() -> None:
    python_spaces = {c for c in range(0x3100) if re.match(r"\s", chr(c))}
    screen = re2.compile(f"[{_PY_SPACE}]")
    assert {c for c in range(0x3100) if screen.fullmatch(chr(c))} == python_spaces
    assert not [c for c in range(0x3100, 0x110000) if chr(c).isspace()]  # nothing beyond what was checked


SCREENABLE = [r"(?i)(x-api-key:\s*)\S+", r"CORP-[0-9]{6}-[A-Z]{4}", r"tenant=[^\s,]+", r"[\s,]sig:\S+", r"^hook-\w?"]


@pytest.mark.parametrize(
    ("pattern", "screened"),
    [(r"(?i)(x-api-key:\s*)\S+", True), (r"CORP-[0-9]{6}-[A-Z]{4}", True), (r"tenant=[^\s,]+", True),
     (r"[\s,]sig:\S+", True), (r"id-\d+", False), (r"\bword\b", False), (r"(?<=key=)\S+", False), (r"a{,3}", False),
     (r"[^\S]x", False), (r"clé=\S+", False), (r"(x)\1", False)],
)
def test_which_policy_patterns_get_an_re2_screen(pattern: str, screened: bool) -> None:
    assert (policy_screen(pattern) is not None) is screened


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([p for p in SCREENABLE if policy_screen(p) is not None]),
       st.lists(st.sampled_from([*"aAxX-:=,.sigtenCORP0123 \t\v\x1c\x85\xa0\u3000\n", "x-api-key", "tenant=", "sig:"]),
                max_size=60).map("".join))
def test_a_policy_screen_never_misses_what_its_pattern_finds(pattern: str, text: str) -> None:
    if re.search(pattern, text):
        assert policy_screen(pattern).search(text.encode("utf-8", "surrogatepass")) is not None
    assert Redactor([], [pattern]).redact(text) == Redactor([], [pattern], prefilter=False).redact(text)


# -- secrets that need the lines around them -------------------------------------------------------------------------


def test_an_env_entry_value_after_its_secret_name_is_masked_in_yaml_and_json() -> None:
    yaml_env = "    env:\n    - name: DB_PASSWORD\n      value: hunter2\n    - name: DB_HOST\n      value: db.internal"
    assert stream(yaml_env) == ["    env:", "    - name: DB_PASSWORD", f"      value: {MASK}", "    - name: DB_HOST",
                                "      value: db.internal"]
    json_env = '{\n  "name": "STRIPE_API_KEY",\n  "value": "sk_test_x"\n}'
    assert stream(json_env)[2] == f'  "value": "{MASK}"'
    # valueFrom is a reference, not a value: it stays, and nothing after it is masked by mistake.
    ref = "- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef:\n      key: password"
    assert stream(ref) == ref.split("\n")


def test_private_key_blocks_of_every_armour_are_masked() -> None:
    for begin, end in (
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"),
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "-----END PGP PRIVATE KEY BLOCK-----"),
        ("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----", "---- END SSH2 ENCRYPTED PRIVATE KEY ----"),
    ):
        text = f"key:\n{begin}\nb3BlbnNzaC1rZXktdjEAAAAAC\nQkZXNjAAAAGAAAABA\n{end}\ndone"
        assert stream(text) == ["key:", MASK, MASK, MASK, MASK, "done"], begin
        assert Redactor().redact(text) == f"key:\n{MASK}\ndone"
    # A key whose end never comes is masked to the end of the text.
    assert Redactor().redact("a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nMIIEpA") == f"a\n{MASK}"


def test_putty_private_lines_are_masked() -> None:
    ppk = ("PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: ops\nPublic-Lines: 1\nAAAAB3NzaC1yc2E\n"
           "Private-Lines: 2\nAAABAQCprivateOne\nAAABAQCprivateTwo\nPrivate-MAC: 0a1b2c")
    expected = ppk.replace("AAABAQCprivateOne", MASK).replace("AAABAQCprivateTwo", MASK)
    assert "\n".join(stream(ppk)) == expected
    assert Redactor().redact(ppk) == expected.replace(f"{MASK}\n{MASK}", MASK)


def test_the_runner_keeps_an_env_entry_across_two_reads(tmp_path: Path) -> None:
    """kubectl's "- name: X_TOKEN" can end one read and "value:" start the next: the value is masked all the same."""
    seen: list[str] = []
    runner = CommandRunner(["true"], listeners=[lambda line: seen.append(line.text)])
    redacting = StreamRedactor(runner.redactor)
    runner._block(redacting, "stdout", b"items:\n- name: REGISTRY_TOKEN")
    assert not redacting.idle  # the next read must go through the line-by-line redactor
    runner._block(redacting, "stdout", b"  value: tok-41\n- name: LOG_LEVEL\n  value: debug")
    assert seen == ["items:", "- name: REGISTRY_TOKEN", f"  value: {MASK}", "- name: LOG_LEVEL", "  value: debug"]
    assert redacting.idle


def redact_in_two_pieces(redactor: Redactor, text: str, cut: int, overlap: int) -> str:
    """``text`` cut at ``cut`` and redacted piece by piece as the runner does an over-long line, the pieces joined."""
    first, second = text[:cut], text[cut:]
    safe_first, carried, rest_masked = redactor.redact_piece(first, "", second[:overlap], goes_on=len(second) > overlap)
    if rest_masked:
        return safe_first + MASK
    safe_second, _, _ = redactor.redact_piece(second, first[-overlap:], "", carried=carried)
    return safe_first + safe_second


@pytest.mark.parametrize("form", [f for f in FORMS if "\n" not in f.text], ids=lambda f: f"{f.rule}:{f.text[:24]}")
def test_a_form_cut_anywhere_is_masked_as_if_whole(form: Form) -> None:
    """Every one-line form, cut at every place from its name's start to its end, comes out of the two pieces as it
    comes out whole (the mask split in two at most)."""
    redactor = Redactor()
    text = "ok " * 40 + form.text + " ok" * 40
    whole = redactor.redact(text)
    start = 3 * 40
    for cut in range(start, start + len(form.text) + 1):
        pieces = redact_in_two_pieces(redactor, text, cut, 1024)
        assert pieces.replace(MASK + MASK, MASK) == whole, (cut, pieces)


def test_a_secret_running_out_of_the_window_masks_the_rest_of_the_line() -> None:
    """A value longer than the overlap, cut far from its name: where it ends is out of sight, so the rest goes."""
    redactor = Redactor()
    text = "ok " * 10 + '{"client_secret": "' + "s" * 300 + '", "next": "shown"}'
    cut = text.index("s" * 300) + 150
    assert redact_in_two_pieces(redactor, text, cut, 64) == "ok " * 10 + '{"client_secret": "' + MASK + MASK
    # With the whole value in the window, only the value goes.
    assert redact_in_two_pieces(redactor, text, cut, 1024).replace(MASK + MASK, MASK) == redactor.redact(text)


def test_the_rest_of_a_line_is_masked_with_its_start_when_the_hold_fills_on_it() -> None:
    s = StreamRedactor(Redactor(), hold_limit=3)
    assert s.feed("data:") == [] and s.feed("  a: YWFh") == []
    assert s.feed("  b: YmJi") == ["data:", f"  a: {MASK}", f"  b: {MASK}"]  # the hold is full: released masked
    assert s.feed_more("YmJiYmJi") == [MASK]
    assert s.feed("  c: Y2Nj") == [f"  c: {MASK}"] and s.feed_more("Y2NjY2Nj") == [MASK]
    assert s.feed("kind: Secret") == ["kind: Secret"] and s.feed_more(" # shown") == [" # shown"]


LONG_VALUE = "QmxvYkQ" * 40000  # one value longer than the runner ever holds of a line: it comes in pieces


@pytest.mark.parametrize(
    ("document", "secrets", "kept"),
    [
        # A Secret's data block, held until its kind: a continuation piece must not read as a line that ends the block.
        ("apiVersion: v1\ndata:\n  blob: {long}\n  api.conf: c2VjcmV0LXZhbHVlLTQy\nkind: Secret\n",
         ["c2VjcmV0LXZhbHVlLTQy"], ["kind: Secret", "  api.conf: " + MASK]),
        # An env entry's value on the line after its secret-looking name, and a private key line: masked to the end.
        ("env:\n- name: DB_PASSWORD\n  value: {long}\n- name: LOG_LEVEL\n  value: debug\n", [], ["  value: debug"]),
        ("-----BEGIN PRIVATE KEY-----\n{long}\n-----END PRIVATE KEY-----\ndone\n", [], ["done"]),
        # A value running to the line's end (a YAML line under a secret-looking name): the rest of the line goes.
        ("  db_password: {long} tail\nnext\n", ["tail"], ["next"]),
    ],
)
def test_lines_too_long_to_hold_keep_what_came_before_them(tmp_path: Path, document: str, secrets: list[str],
                                                          kept: list[str]) -> None:
    """What the line-by-line redactor remembers about a line (inside a Secret's data, an env value, a key block) holds
    for every piece of it when the runner has to cut it."""
    (tmp_path / "doc").write_text(document.format(long=LONG_VALUE), encoding="ascii")
    seen: list[str] = []
    script = "import sys\nsys.stdout.write(open(sys.argv[1]).read())\n"
    result = CommandRunner([PY, "-c", script, str(tmp_path / "doc")], listeners=[lambda line: seen.append(line.text)]).run()
    assert result.exit_code == 0
    printed = "\n".join(seen)
    leaked = [secret for secret in [LONG_VALUE[:12], *secrets] if secret in printed]  # not in the assert: no 280 KB diff
    assert leaked == []
    assert all(line in seen for line in kept), [line[:60] for line in seen]


# -- argv and journal values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["mysql", "-uroot", "-phunter2", "shop"], ["mysql", "-uroot", f"-p{MASK}", "shop"]),
        (["/usr/bin/mysqldump", "--password", "hunter2", "shop"], ["/usr/bin/mysqldump", "--password", MASK, "shop"]),
        (["kubectl", "--token", "abc123", "get", "pods"], ["kubectl", "--token", MASK, "get", "pods"]),
        (["docker", "login", "-u", "me", "-p", "dockerpw", "reg"], ["docker", "login", "-u", "me", "-p", MASK, "reg"]),
        (["curl", "-u", "admin:curlpw", "https://x"], ["curl", "-u", f"admin:{MASK}", "https://x"]),
        (["keytool", "-storepass", "changeit"], ["keytool", "-storepass", MASK]),
        (["terraform", "plan", "-var", "db_password=tfpw"], ["terraform", "plan", "-var", f"db_password={MASK}"]),
        # Nothing to take: a placeholder, a flag after a flag, a kubectl -p (previous container) with no mysql.
        (["vault", "--token", "{token}"], ["vault", "--token", "{token}"]),
        (["app", "--token", "--verbose"], ["app", "--token", "--verbose"]),
        (["kubectl", "logs", "web-0", "-p"], ["kubectl", "logs", "web-0", "-p"]),
        (["git", "push", "-pfoo"], ["git", "push", "-pfoo"]),
    ],
)
def test_argv_words_are_redacted_with_the_words_around_them(argv: list[str], expected: list[str]) -> None:
    assert Redactor().redact_argv(argv) == expected
    assert Redactor().redact_data({"argv": argv}) == {"argv": expected}


def test_journal_values_under_secret_looking_keys_are_masked_whatever_they_look_like() -> None:
    data = {"params": {"db_password": "x7Kq", "GITHUB_TOKEN": "plain", "namespace": "web", "api_token": "{token}"},
            "declared": {"pw": {"type": "string", "secret": True}}, "author": "alice"}
    assert Redactor().redact_data(data) == {
        "params": {"db_password": MASK, "GITHUB_TOKEN": MASK, "namespace": "web", "api_token": "{token}"},
        "declared": {"pw": {"type": "string", "secret": True}}, "author": "alice",
    }


def test_a_runbooks_own_text_survives_redaction_so_its_copy_still_runs() -> None:
    """The change keeps a redacted copy of its runbook to resume from: placeholders, booleans and shell variables stay."""
    text = """\
params:
  db_password: {type: string, secret: true}
  api_token: {type: string, secret: true}
steps:
  - id: s
    run: [sh, -c, 'PGPASSWORD=$PW psql -c "select 1"; echo "token=${TOKEN}"', --token, "{api_token}", "--password={db_password}"]
    env: {DB_PASSWORD: "{db_password}", GITHUB_TOKEN: "{api_token}"}
    secret: false
"""
    assert Redactor().redact(text) == text
    as_json = json.dumps({"env": {"DB_PASSWORD": "{db_password}"}, "secret": True, "token": {"type": "string"}}, indent=2)
    assert Redactor().redact(as_json) == as_json


# -- runbook literals --------------------------------------------------------------------------------------------------

LITERAL_RUNBOOK = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: t, title: T, component: c, from: "1", to: "2", risk: low, environments: [rehearsal], owners: [p]}
why: Prose may say DB_PASSWORD=inprose; the record masks it, but it is not a command.
params:
  pw: {type: string, secret: true}
preconditions:
  - id: pre
    run: [sh, -c, "echo DB_PASSWORD=hunter2 && echo ok"]
gates:
  - id: gate
    run: [mysql, -uroot, -phunter22, --password, "s3cr3tpw"]
steps:
  - id: one
    run: [kubectl, --token, "{pw}", get, pods]
    env:
      GITHUB_TOKEN: ghp_abcdefghijklmnopqrstuvwxyz0123456789
      API_KEY: "{pw}"
      SAFE: hello
    cwd: /srv/app
  - id: tf
    kind: terraform
    terraform:
      action: plan
      dir: tf
      vars: {db_password: tfsecret1, region: eu}
rollback:
  steps:
    - id: undo
      run: [psql, "postgres://app:pgpass99@db/app"]
verification:
  - id: v
    run: [curl, -H, "Authorization: Bearer abcdefgh12345", https://x]
evidence:
  - id: e
    run: [sh, -c, 'PGPASSWORD=$PW psql']
"""


def test_literal_secrets_names_every_literal_in_command_text_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "literal.yaml"
    path.write_text(LITERAL_RUNBOOK, encoding="utf-8")
    found = literal_secrets(load_runbook(path), Redactor())
    where = [(p.line, p.col, p.path) for p in found]
    assert where == [
        (9, 37, "preconditions[0].run[2]"),
        (12, 28, "gates[0].run[2]"),
        (12, 51, "gates[0].run[4]"),
        (17, 21, "steps[0].env.GITHUB_TOKEN"),
        (26, 27, "steps[1].terraform.vars.db_password"),
        (30, 35, "rollback.steps[0].run[1]"),
        (33, 44, "verification[0].run[2]"),
    ]
    lines = LITERAL_RUNBOOK.split("\n")
    for p, secret in zip(found, ["hunter2", "hunter22", "s3cr3tpw", "ghp_", "tfsecret1", "pgpass99", "abcdefgh12345"], strict=False):
        assert lines[p.line - 1][p.col - 1 :].startswith(secret), p  # the column is where the secret starts
    shown = [p.message.split(" is a secret")[0] for p in found]
    assert shown == ["DB_PASSWORD=hu…", "-phu…", "--password s3…", "GITHUB_TOKEN=gh…", "db_password=tf…",
                     "postgres://app:pg…", "Bearer ab…"]
    assert all("secret: true" in p.message and p.message.count(".") <= 1 for p in found)
    assert str(found[0]).startswith(f"{path}:9:37: preconditions[0].run[2]: DB_PASSWORD=hu…")
    assert not [p for p in found if any(s in p.message for s in ("hunter2", "s3cr3tpw", "tfsecret1", "pgpass99"))]


def test_literal_secrets_finds_nothing_in_a_runbook_that_takes_its_secrets_as_parameters(tmp_path: Path) -> None:
    doc = runbook_doc(
        params={"db_password": {"type": "string", "secret": True}},
        steps=[{"id": "s", "run": ["sh", "-c", "PGPASSWORD={db_password} psql -c 'select 1'"],
                "env": {"DB_PASSWORD": "{db_password}", "MODE": "token=off"[:4]}, "explain": "password=in-prose"}],
    )
    path = tmp_path / "clean.yaml"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    assert literal_secrets(load_runbook(path), Redactor()) == []
    # The same runbook in JSON with a literal: found, and placed in the JSON text.
    doc["steps"][0]["env"]["DB_PASSWORD"] = "jsonpw99"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    [problem] = literal_secrets(load_runbook(path), Redactor())
    text_lines = path.read_text().split("\n")
    assert problem.path == "steps[0].env.DB_PASSWORD"
    assert text_lines[problem.line - 1][problem.col - 1 :].startswith("jsonpw99")


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
        # Secrets reach a runbook's commands as secret parameters: a literal one is refused at start (tested above).
        params={name: {"type": "string", "secret": True} for name in ("token", "bearer", "forbidden")},
        preconditions=[{"id": "evidence", "kind": "check", "run": print_secrets, "capture": "artifact"}],
        steps=[
            {
                "id": "leak", "title": "Use {token}", "run": print_secrets, "confirm": "none",
                "env": {"AUTH_HEADER": "Authorization: Bearer {bearer}"},
                "explain": "Calls the API with token={token}.",
            },
            {
                "id": "forbidden", "run": ["sh", "-c", 'echo FATAL password="$1"', "sh", "{forbidden}"],
                "expect": {"output_not_matches": "FATAL"}, "confirm": "none",
            },
            {"id": "by-hand", "kind": "manual", "instructions": "Rotate the key.", "capture": "artifact"},
        ],
    )
    seen: list[OutputLine] = []
    s = start(doc, params={"token": PARAM_SECRET, "bearer": RUNBOOK_BEARER, "forbidden": ELSEWHERE["forbidden"]}, policy_text=POLICY,
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


def test_a_value_of_another_entry_after_a_secret_refs_name_is_left_alone() -> None:
    """Found by the batch property above: a `value:` at a shallower indent than a credential-looking `name:` (a
    secretKeyRef's name) belongs to another env entry, and is no secret; the entry's own value still is."""
    other = "\n".join(["            name: db-credentials", "          value: db.internal"])
    assert Redactor().redact(other) == other
    assert Redactor(prefilter=False).redact(other) == other
    listed = "\n".join(["        - name: DB_PASSWORD", "          value: hunter2x"])
    assert Redactor().redact(listed).endswith(f"value: {MASK}")
    as_json = "\n".join(['            "name": "DB_PASSWORD",', '            "value": "hunter2x"'])
    assert "hunter2x" not in Redactor().redact(as_json)


_SPANS = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab\nc", min_size=40, max_size=40), _SPANS)
def test_masking_in_one_pass_equals_merging_then_applying(text: str, spans: list[tuple[int, int]]) -> None:
    """Overlapping, touching, empty and unsorted spans: the one-pass mask is what merge_spans then apply_spans give."""
    expected = apply_spans(text, merge_spans(s for s in spans if s[0] < s[1]))
    assert mask_spans(text, list(spans)) == expected


@pytest.mark.parametrize("prefilter", [True, False])
@pytest.mark.parametrize(
    "marker",
    ["-----BEGIN RSA PRIVATE KEY-----", "  Private-Lines: 2", "data:", '  "stringData": {', "- name: DB_PASSWORD",
     '    "name": "API_TOKEN",'],
)
def test_a_batch_holding_what_needs_memory_across_lines_is_left_to_the_line_by_line_redactor(marker: str, prefilter: bool) -> None:
    """The set pass that finds the rules also finds these markers, anywhere in the batch: no batch result then."""
    # A secret ref's "name: db-credentials" looks like an env entry's name: leave it out of the plain batch.
    lines = [*(line for line in KUBECTL_LINES if "db-credentials" not in line), "export DB_PASSWORD=hunter2"]
    assert Redactor(prefilter=prefilter).redact_batch("\n".join([*lines[:3], marker, *lines[3:]])) is None
    plain = "\n".join(lines)
    assert Redactor(prefilter=prefilter).redact_batch(plain) == Redactor(prefilter=prefilter).redact(plain)
    assert Redactor(prefilter=prefilter).redact_batch(plain).endswith(f"DB_PASSWORD={MASK}")


def test_the_prefilter_locator_gives_what_re2s_public_search_gives() -> None:
    """The one-call locator on google-re2's compiled object, and its fallback on the public ``search``, agree."""
    compiled = re2.compile("(?m)^x|tok[a-z]+=")

    class PublicOnly:
        search = compiled.search

    fast, public = locator(compiled), locator(PublicOnly())
    source = b"a token=1\nx tokens=2\nnothing"
    for pos in range(len(source) + 1):
        for end in (pos, len(source) - 3, len(source)):
            assert tuple(fast(source, pos, end)[0]) == tuple(public(source, pos, end)[0])
    assert tuple(fast(source, 21, len(source))[0]) == (-1, -1)
