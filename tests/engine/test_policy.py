"""Policy verdicts as pure functions (console/engine/policy.py): windows, frequency limits, approvals, context, escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.config import ConfigError, Environment, Limits, Policy, Window, load_policy
from console.engine import policy as pol

UTC = UTC


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """November 2026: the 16th is a Monday, the 17th a Tuesday, the 18th a Wednesday ... the 21st a Saturday."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def policy_with(**windows: Window) -> Policy:
    return Policy(windows=windows)


# -- windows -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        (at(17, 21, 59), False),  # Tuesday, before the start
        (at(17, 22, 0), True),  # Tuesday 22:00: the start is inside
        (at(17, 23, 30), True),
        (at(18, 0, 0), True),  # past midnight, into Wednesday: still Tuesday's window
        (at(18, 3, 59), True),
        (at(18, 4, 0), False),  # the end is outside
        (at(16, 23, 0), False),  # Monday night: Monday is not a window day
        (at(17, 2, 0), False),  # Tuesday 02:00 belongs to Monday night's window, which does not exist
        (at(18, 22, 30), False),  # Wednesday night: not a window day
    ],
)
def test_a_window_crossing_midnight_belongs_to_the_day_it_starts(when: datetime, inside: bool) -> None:
    policy = policy_with(high=Window(days=["tue"], start="22:00", end="04:00"))
    ok, described = pol.in_window(policy, "high", when)
    assert ok is inside
    assert described == "tue 22:00-04:00 UTC"


def test_a_window_crossing_midnight_at_the_end_of_the_week_wraps_to_monday() -> None:
    policy = policy_with(critical=Window(days=["sun"], start="23:00", end="01:00"))
    assert pol.in_window(policy, "critical", at(22, 23, 30))[0]  # Sunday 23:30
    assert pol.in_window(policy, "critical", at(23, 0, 30))[0]  # Monday 00:30
    assert not pol.in_window(policy, "critical", at(23, 1, 0))[0]  # Monday 01:00: the end
    assert not pol.in_window(policy, "critical", at(22, 0, 30))[0]  # Sunday 00:30 belongs to Saturday night


def test_a_window_is_read_in_its_own_time_zone() -> None:
    # 22:00-04:00 in Berlin (UTC+1 in November) is 21:00-03:00 UTC.
    policy = policy_with(high=Window(days=["tue"], start="22:00", end="04:00", tz="Europe/Berlin"))
    assert pol.in_window(policy, "high", at(17, 21, 30))[0]
    assert not pol.in_window(policy, "high", at(18, 3, 30))[0]


def test_a_same_day_window_and_the_whole_day_default() -> None:
    policy = policy_with(medium=Window(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="17:00"))
    assert pol.in_window(policy, "medium", at(18, 9, 0))[0]
    assert not pol.in_window(policy, "medium", at(18, 17, 0))[0]
    assert not pol.in_window(policy, "medium", at(21, 12, 0))[0]  # Saturday
    assert pol.in_window(Policy(), "low", at(21, 23, 59))[0]  # default: every day 00:00-24:00


def test_check_window_is_overridable_and_skipped_for_rehearsals() -> None:
    policy = policy_with(low=Window(days=["sat"], start="02:00", end="03:00"))
    refused = pol.check_window(policy, "low", "staging", at(18, 12))
    assert not refused.ok and refused.overridable and "outside the low-risk change window" in refused.message
    rehearsal = pol.check_window(policy, "low", "rehearsal", at(18, 12))
    assert rehearsal.ok and "rehearsal" in rehearsal.message


# -- frequency limits ---------------------------------------------------------------------------------------------


def past(when: datetime, risk: str = "low", environment: str = "staging", emergency: bool = False) -> pol.PastChange:
    return pol.PastChange(when, risk, environment, emergency)


def test_the_fourth_change_of_a_day_is_refused_but_overridable() -> None:
    now = at(18, 15)
    history = [past(at(18, 9)), past(at(18, 10)), past(at(18, 11))]
    verdict = pol.check_frequency(Policy(), "low", "staging", now, history)
    assert not verdict.ok and verdict.overridable
    assert verdict.message == "3 changes already today in staging (limit 3; the latest: at 2026-11-18 11:00Z)"


def test_emergencies_other_environments_and_other_days_do_not_count() -> None:
    now = at(18, 15)
    history = [
        past(at(18, 9)), past(at(18, 10)),
        past(at(18, 11), emergency=True),
        past(at(18, 12), environment="production"),
        past(at(17, 23, 59)),
    ]
    verdict = pol.check_frequency(Policy(), "low", "staging", now, history)
    assert verdict.ok and verdict.message == "2 change(s) today in staging"


def test_high_risk_changes_are_spaced_and_followed_by_a_stability_period() -> None:
    policy = Policy(limits=Limits(max_changes_per_day=10, min_hours_between_high=4, stability_hours_after_high=24))
    history = [past(at(17, 22), risk="high")]
    # Two hours later: too close for another high-risk change.
    spaced = pol.check_frequency(policy, "high", "staging", at(18, 0), history)
    assert not spaced.ok and "at least 4h apart" in spaced.message and "2.0h" in spaced.message
    # Six hours later: spacing is fine, but any change is still inside the 24 h stability period.
    stable = pol.check_frequency(policy, "low", "staging", at(18, 4), history)
    assert not stable.ok and "24h stability period" in stable.message and stable.overridable
    # A day and a bit later, all clear.
    assert pol.check_frequency(policy, "high", "staging", at(18, 22, 1), history).ok
    # Rehearsals have no limits at all.
    assert pol.check_frequency(policy, "high", "rehearsal", at(18, 0), [past(at(17, 23), "high", "rehearsal")]).ok


# -- approvals ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk", "approvals", "ok", "message"),
    [
        ("low", [], True, "a low-risk change needs no approval beyond the operator"),
        ("medium", [], False, "a medium-risk change needs approval from: senior-engineer"),
        ("medium", [pol.Approval("bob", "senior-engineer")], True, "approved by bob (senior-engineer)"),
        ("medium", [pol.Approval("  ", "senior-engineer")], False, "a medium-risk change needs approval from: senior-engineer"),
        ("high", [pol.Approval("eve", "security")], False, "a high-risk change needs approval from: engineering-manager"),
        (
            "high", [pol.Approval("eve", "security"), pol.Approval("dan", "engineering-manager")], True,
            "approved by eve (security), dan (engineering-manager)",
        ),
        ("critical", [pol.Approval("eve", "security")], False, "a critical-risk change needs approval from: director, business"),
    ],
)
def test_approvals_per_risk(risk: str, approvals: list[pol.Approval], ok: bool, message: str) -> None:
    verdict = pol.check_approvals(Policy(), risk, approvals)
    assert (verdict.ok, verdict.message, verdict.overridable) == (ok, message, False)


def test_approval_roles_come_from_the_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "opsconsole.toml"
    path.write_text('[approvals]\nlow = ["peer"]\n', encoding="utf-8")
    policy = load_policy(str(path))
    assert not pol.check_approvals(policy, "low", []).ok
    assert pol.check_approvals(policy, "low", [pol.Approval("pat", "peer")]).ok


# -- context guard and environments ----------------------------------------------------------------------------------


def test_the_context_guard_names_where_a_context_belongs() -> None:
    policy = Policy(environments={
        "rehearsal": Environment(contexts=["rehearsal"], rehearsal=True),
        "staging": Environment(contexts=["stage-ctx"]),
        "production": Environment(contexts=["prod-ctx"], production=True),
    })
    assert pol.check_context(policy, "staging", "stage-ctx").ok
    wrong = pol.check_context(policy, "staging", "prod-ctx")
    assert not wrong.ok and not wrong.overridable
    assert wrong.message == "context 'prod-ctx' is not a staging context (it belongs to 'production'); staging contexts: stage-ctx"
    unmapped = pol.check_context(policy, "production", "stray-ctx")
    assert "policy maps it to no environment" in unmapped.message
    unknown = pol.check_context(policy, "qa", "stage-ctx")
    assert not unknown.ok and "environment 'qa' is not in policy" in unknown.message
    assert pol.needs_typed_context(policy, "production") and not pol.needs_typed_context(policy, "staging")
    assert pol.is_rehearsal(policy, "rehearsal") and not pol.is_rehearsal(policy, "staging")


def test_default_policy_maps_staging_and_production_to_nothing() -> None:
    policy = Policy()
    assert not pol.check_context(policy, "staging", "stage-ctx").ok
    assert not pol.check_context(policy, "production", "prod-ctx").ok
    assert pol.check_context(policy, "rehearsal", "rehearsal-b").ok


def test_a_bad_window_in_the_policy_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "opsconsole.toml"
    path.write_text('[windows.high]\nstart = "25:00"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"windows\.high\.start: '25:00' is not a time of day HH:MM"):
        load_policy(str(path))


# -- escalation -------------------------------------------------------------------------------------------------------


def test_escalation_deadlines_pass_at_their_minutes() -> None:
    failed = at(18, 12)
    levels = pol.escalation_levels(Policy(), failed)
    assert [(l.level, l.minutes, l.due) for l in levels] == [
        ("manual rollback", 5, failed + timedelta(minutes=5)),
        ("senior engineer", 15, failed + timedelta(minutes=15)),
        ("leadership", 30, failed + timedelta(minutes=30)),
    ]
    assert pol.passed_escalations(Policy(), failed, failed + timedelta(minutes=4, seconds=59)) == []
    assert [l.level for l in pol.passed_escalations(Policy(), failed, failed + timedelta(minutes=5))] == ["manual rollback"]
    assert len(pol.passed_escalations(Policy(), failed, failed + timedelta(hours=2))) == 3
