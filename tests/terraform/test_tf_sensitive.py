"""Masking what Terraform marks sensitive in its JSON documents (pure): state, show -json of a plan, output -json."""

from __future__ import annotations

from console.terraform.sensitive import MASK, mask_path, mask_sensitive, mask_tree

STATE = {
    "version": 4,
    "outputs": {"token": {"value": "s3cr3t", "type": "string", "sensitive": True}, "n": {"value": 2, "type": "number"}},
    "resources": [{"type": "terraform_data", "instances": [{
        "attributes": {"id": "x", "input": {"value": {"token": "s3cr3t", "name": "a"}, "type": ["object", {}]},
                       "list": ["p", "q"]},
        "sensitive_attributes": [[{"type": "get_attr", "value": "input"}, {"type": "get_attr", "value": "token"}],
                                 [{"type": "get_attr", "value": "list"}, {"type": "index", "value": {"value": 1, "type": "number"}}],
                                 [{"type": "get_attr", "value": "missing"}]],
    }]}],
}


def test_a_states_sensitive_outputs_and_attributes_are_masked_and_the_rest_kept() -> None:
    masked = mask_sensitive(STATE)
    assert masked["outputs"]["token"]["value"] == MASK and masked["outputs"]["n"]["value"] == 2
    attributes = masked["resources"][0]["instances"][0]["attributes"]
    assert attributes["input"]["value"] == {"token": MASK, "name": "a"}
    assert attributes["list"] == ["p", MASK] and attributes["id"] == "x"
    assert STATE["outputs"]["token"]["value"] == "s3cr3t"  # the input is left as it was


def test_a_plans_variables_changes_and_outputs_are_masked_by_their_trees() -> None:
    plan = {
        "variables": {"token": {"value": "s3cr3t"}, "n": {"value": "2"}},
        "configuration": {"root_module": {"variables": {"token": {"sensitive": True, "default": "d3fault"}, "n": {}}}},
        "resource_changes": [{"change": {"actions": ["update"], "before": {"input": {"token": "old", "name": "a"}},
                                         "after": {"input": {"token": "s3cr3t", "name": "a"}},
                                         "before_sensitive": {"input": {"token": True}}, "after_sensitive": {"input": {"token": True}}}}],
        "output_changes": {"conn": {"before": "r://:old@h", "after": "r://:s3cr3t@h", "before_sensitive": True, "after_sensitive": True}},
        "prior_state": {"values": {"root_module": {"resources": [{"values": {"x": ["k", None]}, "sensitive_values": {"x": [True, True]}}]}}},
    }
    masked = mask_sensitive(plan)
    assert masked["variables"] == {"token": {"value": MASK}, "n": {"value": "2"}}
    assert masked["configuration"]["root_module"]["variables"]["token"]["default"] == MASK
    change = masked["resource_changes"][0]["change"]
    assert change["before"]["input"] == {"token": MASK, "name": "a"} and change["after"]["input"] == {"token": MASK, "name": "a"}
    assert change["actions"] == ["update"]
    assert masked["output_changes"]["conn"]["before"] == MASK and masked["output_changes"]["conn"]["after"] == MASK
    assert masked["prior_state"]["values"]["root_module"]["resources"][0]["values"] == {"x": [MASK, None]}


def test_output_json_and_the_tree_and_path_edges() -> None:
    assert mask_sensitive({"a": {"value": "s", "type": "string", "sensitive": True}, "b": {"value": 1, "sensitive": False}}) == {
        "a": {"value": MASK, "type": "string", "sensitive": True}, "b": {"value": 1, "sensitive": False}}
    assert mask_tree({"a": 1}, {"b": True}) == {"a": 1}
    assert mask_tree("s", True) == MASK and mask_tree(None, True) is None
    assert mask_path({"a": [1, 2]}, [{"type": "get_attr", "value": "a"}, {"type": "index", "value": {"value": 5}}]) == {"a": [1, 2]}
