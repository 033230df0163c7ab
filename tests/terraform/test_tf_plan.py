"""Plan summaries from real ``terraform show -json`` documents and from hand-made edge cases."""

from __future__ import annotations

import pytest

from console.terraform.plan import PlanFormatError, ResourceRef, format_summary, summarise_plan
from tests.support.tfhelpers import load_plan


def _doc(*changes: tuple[str, str, list[str]], **top: object) -> dict:
    """A minimal show -json plan with the given (address, type, actions) changes."""
    return {
        "format_version": "1.2",
        "planned_values": {"root_module": {}},
        "resource_changes": [
            {"address": a, "type": t, "mode": "managed", "name": a.split(".")[-1], "change": {"actions": acts}}
            for a, t, acts in changes
        ],
        **top,
    }


def test_scale_up_is_two_adds_with_addresses():
    s = summarise_plan(load_plan("scale-3-to-5.json"))
    assert (s.add, s.change, s.replace, s.destroy) == (2, 0, 0, 0)
    assert s.addresses("add") == ["terraform_data.node[3]", "terraform_data.node[4]"]
    assert s.count("no-op") == 3
    assert all(ref.type == "terraform_data" for ref in s.refs("add"))
    assert s.has_changes and not s.errored and s.complete
    assert s.output_changes == {"nodes": ("update",)}


def test_rollback_is_two_destroys():
    s = summarise_plan(load_plan("rollback-5-to-3.json"))
    assert (s.add, s.change, s.replace, s.destroy) == (0, 0, 0, 2)
    assert s.addresses("destroy") == ["terraform_data.node[3]", "terraform_data.node[4]"]
    assert s.refs("destroy")[0].action_reason == "delete_because_count_index"


def test_regeneration_is_replacements_and_one_destroy():
    s = summarise_plan(load_plan("regenerate-5-to-4.json"))
    assert (s.add, s.change, s.replace, s.destroy) == (0, 0, 4, 1)
    assert s.addresses("destroy") == ["terraform_data.node[4]"]
    assert s.refs("replace")[0].actions == ("delete", "create")


def test_no_changes():
    s = summarise_plan(load_plan("no-changes.json"))
    assert not s.has_changes
    assert s.count("no-op") == 5
    assert format_summary(s) == ["+0 to add, 0 to change, 0 to replace, 0 to destroy"]


def test_format_lists_each_change_with_its_symbol():
    assert format_summary(summarise_plan(load_plan("scale-3-to-5.json"))) == [
        "+2 to add, 0 to change, 0 to replace, 0 to destroy",
        "  + terraform_data.node[3]",
        "  + terraform_data.node[4]",
    ]
    lines = format_summary(summarise_plan(load_plan("regenerate-5-to-4.json")))
    assert lines[0] == "+0 to add, 0 to change, 4 to replace, 1 to destroy"
    assert "-/+ terraform_data.node[0]  (replace_because_cannot_update)" in lines
    assert lines[-1] == "  - terraform_data.node[4]  (delete_because_count_index)"


def test_every_action_list_has_its_category():
    s = summarise_plan(_doc(
        ("a.create", "t", ["create"]),
        ("a.update", "t", ["update"]),
        ("a.dbc", "t", ["delete", "create"]),
        ("a.cbd", "t", ["create", "delete"]),
        ("a.delete", "t", ["delete"]),
        ("a.forget", "t", ["forget"]),
        ("data.t.read", "t", ["read"]),
        ("a.noop", "t", ["no-op"]),
        ("a.weird", "t", ["explode"]),
    ))
    assert [s.count(c) for c in ("add", "change", "replace", "destroy", "forget", "read", "no-op", "unknown")] == [
        1, 1, 2, 1, 1, 1, 1, 1]
    changing = [r.address for r in s.changing]
    assert "data.t.read" not in changing and "a.noop" not in changing
    assert "a.weird" in changing  # an action nobody knows is shown, not hidden
    text = format_summary(s)
    assert text[0] == "+1 to add, 1 to change, 2 to replace, 1 to destroy, 1 to forget, 1 with unrecognised actions"
    assert "+/- a.cbd" in text and "-/+ a.dbc" in text and "  . a.forget" in text


def test_indexes_sort_numerically():
    s = summarise_plan(_doc(*[(f"r.n[{i}]", "r", ["create"]) for i in (10, 2, 9)]))
    assert s.addresses("add") == ["r.n[10]", "r.n[2]", "r.n[9]"]  # the plain sorted() view
    assert [r.address for r in s.refs("add")] == ["r.n[2]", "r.n[9]", "r.n[10]"]


def test_errored_and_incomplete_are_reported():
    s = summarise_plan(_doc(("a.b", "t", ["create"]), errored=True, complete=False))
    assert s.errored and not s.complete
    assert "plan is errored" in format_summary(s)[1]


@pytest.mark.parametrize("doc", [
    {},
    [],
    {"resource_changes": []},
    {"format_version": "1.0", "values": {"root_module": {}}},
])
def test_non_plans_are_refused(doc):
    with pytest.raises(PlanFormatError):
        summarise_plan(doc)


def test_resource_ref_is_hashable_data():
    ref = ResourceRef("a.b", "t", ("create",))
    assert {ref: 1}[ResourceRef("a.b", "t", ("create",))] == 1
