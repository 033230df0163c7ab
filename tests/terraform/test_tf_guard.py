"""Plan guards fail closed, and saved plan files are refused once changed or too old."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.runbook.models import PlanGuard
from console.terraform.guard import (
    GuardViolation,
    address_allowed,
    check_guard,
    check_plan_usable,
    glob_to_regex,
    parse_bound,
    plan_file_fingerprint,
)
from console.terraform.plan import summarise_plan
from console.terraform.planfile import plan_age_reason
from tests.support.tfhelpers import load_plan

SCALE = summarise_plan(load_plan("scale-3-to-5.json"))
ROLLBACK = summarise_plan(load_plan("rollback-5-to-3.json"))
REGEN = summarise_plan(load_plan("regenerate-5-to-4.json"))
NOOP = summarise_plan(load_plan("no-changes.json"))
NODEPOOL_GUARD = {"expect": {"add": 2, "destroy": 0}, "forbid": ["destroy"]}


def _messages(violations: list[GuardViolation]) -> list[str]:
    return [v.message for v in violations]


def test_scale_up_passes_its_guard():
    assert check_guard(SCALE, NODEPOOL_GUARD) == []
    full = {"expect": {"add": 2, "change": 0, "replace": 0, "destroy": 0}, "forbid": ["destroy", "replace"],
            "allow_types": ["terraform_data"], "allow_addresses": ["terraform_data.node[*]"]}
    assert check_guard(SCALE, full) == []


def test_the_same_guard_as_a_pydantic_model():
    assert check_guard(SCALE, PlanGuard(**NODEPOOL_GUARD)) == []
    assert check_guard(ROLLBACK, PlanGuard(**NODEPOOL_GUARD)) != []


def test_unexpected_destroy_names_the_resources():
    v = check_guard(ROLLBACK, NODEPOOL_GUARD)
    assert _messages(v) == [
        "expected add = 2, plan adds 0",
        "expected destroy = 0, plan destroys 2",
        "terraform_data.node[3]: destroy is forbidden",
        "terraform_data.node[4]: destroy is forbidden",
    ]
    assert [(x.rule, x.address) for x in v if x.rule == "forbid"] == [
        ("forbid", "terraform_data.node[3]"), ("forbid", "terraform_data.node[4]")]


def test_replacement_counts_as_destroy_and_add():
    v = check_guard(REGEN, NODEPOOL_GUARD)
    msgs = _messages(v)
    assert "expected add = 2, plan adds 4 (0 created + 4 replaced)" in msgs
    assert "expected destroy = 0, plan destroys 5 (1 destroyed + 4 replaced)" in msgs
    assert "terraform_data.node[0]: destroy is forbidden (replacing it destroys the existing object)" in msgs
    assert "terraform_data.node[4]: destroy is forbidden" in msgs
    # forbid: [replace] catches replacements only, not the plain destroy
    rv = check_guard(REGEN, {"forbid": ["replace"]})
    assert sorted(x.address for x in rv) == [f"terraform_data.node[{i}]" for i in range(4)]
    assert rv[0].message == "terraform_data.node[0]: replace is forbidden"


def test_at_most_bounds():
    assert check_guard(SCALE, {"expect": {"add": "<=2"}}) == []
    assert check_guard(SCALE, {"expect": {"add": "<=5", "destroy": "<=0"}}) == []
    assert _messages(check_guard(SCALE, {"expect": {"add": "<=1"}})) == ["expected add <= 1, plan adds 2"]


def test_allow_types():
    v = check_guard(SCALE, {"allow_types": ["aws_instance"]})
    assert _messages(v) == [
        "terraform_data.node[3]: type terraform_data not in allow_types",
        "terraform_data.node[4]: type terraform_data not in allow_types",
    ]
    assert {x.rule for x in v} == {"allow_types"}


def test_allow_addresses_globs():
    assert check_guard(SCALE, {"allow_addresses": ["terraform_data.node[*]"]}) == []
    assert check_guard(SCALE, {"allow_addresses": ["terraform_data.node"]}) == []  # a resource allows its instances
    assert check_guard(SCALE, {"allow_addresses": ["terraform_data.*"]}) == []
    v = check_guard(SCALE, {"allow_addresses": ["terraform_data.node[3]", "module.pool.*"]})
    assert [(x.rule, x.address) for x in v] == [("allow_addresses", "terraform_data.node[4]")]
    assert v[0].message == "terraform_data.node[4]: address not allowed by allow_addresses"


@pytest.mark.parametrize(("address", "pattern", "ok"), [
    ("module.pool.aws_instance.x[0]", "module.pool.*", True),
    ("module.pool.module.sub.aws_instance.x", "module.pool.*", True),
    ("module.poolx.aws_instance.x", "module.pool.*", False),
    ("terraform_data.node[1]", "terraform_data.node[*]", True),
    ("terraform_data.nodes[1]", "terraform_data.node[*]", False),
    ("terraform_data.n", "terraform_data.node[*]", False),  # brackets are literal, not a character class
    ('module.a["k"].x.y', 'module.a["k"].*', True),
    ("aws_instance.web", "aws_instance.db", False),
])
def test_address_patterns(address, pattern, ok):
    assert address_allowed(address, [glob_to_regex(pattern)]) is ok


@given(st.text(alphabet=st.characters(blacklist_characters="*"), max_size=40))
def test_a_pattern_without_wildcards_matches_only_itself(text):
    rx = glob_to_regex(text)
    assert rx.match(text)
    assert not rx.match(text + "x")


def test_noop_plan_passes_even_strict_guards():
    assert check_guard(NOOP, {"expect": {"add": 0, "change": 0, "replace": 0, "destroy": 0},
                              "forbid": ["add", "change", "replace", "destroy"], "allow_types": ["none"]}) == []


def test_an_empty_guard_still_checks_the_plan_is_whole():
    assert check_guard(SCALE, None) == [] and check_guard(SCALE, {}) == []
    broken = summarise_plan({**load_plan("scale-3-to-5.json"), "errored": True, "complete": False})
    assert {v.rule for v in check_guard(broken, None)} == {"plan"}
    assert len(check_guard(broken, None)) == 2
    odd = load_plan("scale-3-to-5.json")
    odd["resource_changes"][0]["change"]["actions"] = ["teleport"]
    v = check_guard(summarise_plan(odd), {})
    assert v and v[0].address == odd["resource_changes"][0]["address"]


@pytest.mark.parametrize("guard", [
    {"expect": {"add": "two"}},
    {"expect": {"add": -1}},
    {"expect": {"add": True}},
    {"expect": {"create": 2}},
    {"forbid": ["explode"]},
    {"allow_everything": True},
])
def test_a_guard_it_cannot_read_fails_closed(guard):
    v = check_guard(SCALE, guard)
    assert v and v[0].rule == "guard"


def test_parse_bound():
    assert parse_bound(2) == ("==", 2)
    assert parse_bound("<=3") == ("<=", 3)
    assert parse_bound(" 4 ") == ("==", 4)
    with pytest.raises(ValueError):
        parse_bound(">=3")


# ----------------------------------------------------------------------------- saved plan files
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _plan_file(tmp_path: Path, content: bytes = b"plan-bytes") -> Path:
    p = tmp_path / "x.tfplan"
    p.write_bytes(content)
    return p


def test_fingerprint_is_sha256(tmp_path):
    p = _plan_file(tmp_path, b"abc" * 1_000_000)
    assert plan_file_fingerprint(p) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


def test_unchanged_young_plan_is_usable(tmp_path):
    p = _plan_file(tmp_path)
    sha = plan_file_fingerprint(p)
    assert check_plan_usable(p, expected_sha256=sha, created_at=NOW - timedelta(minutes=5), now=NOW,
                             max_age_s=3600) is None
    # epoch seconds work too
    assert check_plan_usable(p, expected_sha256=sha, created_at=NOW.timestamp() - 10, now=NOW.timestamp(),
                             max_age_s=60) is None


def test_changed_plan_is_refused(tmp_path):
    p = _plan_file(tmp_path)
    sha = plan_file_fingerprint(p)
    p.write_bytes(b"plan-byteS")
    reason = check_plan_usable(p, expected_sha256=sha, created_at=NOW, now=NOW, max_age_s=3600)
    assert reason and reason.startswith("plan file changed since it was reviewed")


def test_old_plan_is_refused(tmp_path):
    p = _plan_file(tmp_path)
    sha = plan_file_fingerprint(p)
    reason = check_plan_usable(p, expected_sha256=sha, created_at=NOW - timedelta(hours=1, seconds=1), now=NOW,
                               max_age_s=3600)
    assert reason == "plan is 1h0m1s old, older than the allowed 1h0m0s; plan again"
    assert check_plan_usable(p, expected_sha256=sha, created_at=NOW - timedelta(hours=5), now=NOW,
                             max_age_s=None) is None


def test_missing_or_future_plan_is_refused(tmp_path):
    assert "missing" in check_plan_usable(tmp_path / "nope", expected_sha256="0" * 64, created_at=NOW, now=NOW,
                                          max_age_s=60)
    assert "future" in plan_age_reason(actual_sha256="a", expected_sha256="A", created_at=NOW + timedelta(minutes=1),
                                       now=NOW, max_age_s=60)
    with pytest.raises(ValueError):
        plan_age_reason(actual_sha256="a", expected_sha256="a", created_at=datetime(2026, 1, 1), now=NOW,
                        max_age_s=60)
