"""The binary driver against a stand-in ``terraform`` on PATH: argv, streaming, exit codes, interruption."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from console.terraform.binary import _ArgvBuilder
from console.terraform.drivers import (
    BinaryDriver,
    EmbeddedDriver,
    TerraformCommandFailed,
    TerraformUnavailable,
    TerraformWorkspaceMissing,
    choose_driver,
)
from tests.support.tfhelpers import Lines

STANDIN = Path(__file__).parent / "standin_terraform.py"


def install_standin(bindir: Path, name: str = "terraform") -> Path:
    """Copy the stand-in into ``bindir`` as an executable called ``name``, run by this interpreter."""
    bindir.mkdir(parents=True, exist_ok=True)
    exe = bindir / name
    exe.write_text(f"#!{sys.executable}\n" + STANDIN.read_text())
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


class Standin:
    """A stand-in binary first on PATH, its argv log, and the environment to hand the driver."""

    def __init__(self, tmp_path: Path) -> None:
        self.bindir = tmp_path / "bin"
        self.exe = install_standin(self.bindir)
        self.log = tmp_path / "argv.jsonl"
        self.workdir = tmp_path / "work"
        self.workdir.mkdir()
        self.env = {**os.environ, "PATH": f"{self.bindir}{os.pathsep}{os.environ.get('PATH', '')}",
                    "STANDIN_LOG": str(self.log)}

    def driver(self, **extra_env: str) -> BinaryDriver:
        drv = choose_driver("auto", env={**self.env, **extra_env})
        assert isinstance(drv, BinaryDriver)
        return drv

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argvs(self, command: str) -> list[list[str]]:
        return [c["argv"] for c in self.calls() if "argv" in c and c["argv"][:1] == [command]]


@pytest.fixture
def standin(tmp_path: Path) -> Standin:
    return Standin(tmp_path)


def test_auto_picks_the_binary_first_on_path(standin):
    drv = standin.driver()
    assert drv.executable == str(standin.exe)
    assert drv.name == "binary:terraform 1.11.4"


def test_plan_argv_and_rc2_is_success_with_changes(standin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the relative plan path resolves here, not in the repository
    drv = standin.driver()
    lines = Lines()
    vf = tmp_path / "extra.tfvars"
    vf.write_text('node_count = 5\n')
    res = drv.plan(standin.workdir, plan_file=Path("p.tfplan"), vars={"node_count": "5", "zone": "eu-1"},
                   var_files=[vf], on_line=lines)
    argv = standin.argvs("plan")[0]
    plan_abs = str(Path("p.tfplan").absolute())
    assert argv == ["plan", "-input=false", "-no-color", "-json", "-detailed-exitcode", f"-out={plan_abs}",
                    "-var=node_count=5", "-var=zone=eu-1", f"-var-file={vf}"]
    assert not any(a.startswith("-var-file=/tmp/tmp") for a in argv)  # never python-terraform's temp var file
    assert res.raw_exit_code == 2 and res.exit_code == 0 and res.ok and res.changes_present is True
    assert res.summary == {"add": 2, "change": 0, "import": 0, "remove": 0, "operation": "plan"}
    assert res.lines == len(lines) == 4
    assert standin.calls()[0]["cwd"] == str(standin.workdir)
    assert standin.calls()[0]["env"] == {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
                                         "TF_WORKSPACE": "default"}


def test_plan_rc0_is_success_without_changes_and_rc1_is_failure(standin):
    res = standin.driver(STANDIN_PLAN_RC="0").plan(standin.workdir, plan_file=standin.workdir / "p", vars={},
                                                   var_files=[], on_line=Lines())
    assert (res.exit_code, res.raw_exit_code, res.changes_present) == (0, 0, False)
    assert not any(a.startswith("-var") for a in standin.argvs("plan")[0])
    res = standin.driver(STANDIN_PLAN_RC="1").plan(standin.workdir, plan_file=standin.workdir / "p", vars={},
                                                   var_files=[], on_line=Lines())
    assert (res.exit_code, res.ok, res.changes_present) == (1, False, None)
    assert res.errors == ["No value for required variable"]


def test_lines_arrive_while_the_process_runs_and_in_order(standin, tmp_path):
    gate = tmp_path / "gate"
    lines = Lines()

    def on_line(line: str) -> None:
        lines(line)
        if "Plan to create" in line:
            gate.touch()  # the stand-in is now waiting for this before it prints anything more

    standin.driver(STANDIN_GATE=str(gate)).plan(standin.workdir, plan_file=standin.workdir / "p", vars={},
                                                var_files=[], on_line=on_line)
    messages = [json.loads(x)["@message"] if x.startswith("{") else x for x in lines]
    assert messages == ["Terraform 1.11.4", "terraform_data.node[3]: Plan to create", "gate seen",
                        "Warning: a line on stderr", "Plan: 2 to add, 0 to change, 0 to destroy."]


def test_apply_of_a_saved_plan_carries_no_variables(standin):
    drv = standin.driver()
    plan = standin.workdir / "p.tfplan"
    drv.plan(standin.workdir, plan_file=plan, vars={"node_count": "5"}, var_files=[standin.workdir / "a.tfvars"],
             on_line=Lines())
    lines = Lines()
    res = drv.apply(standin.workdir, plan_file=plan, on_line=lines)
    argv = standin.argvs("apply")[0]
    assert argv == ["apply", "-input=false", "-no-color", "-json", str(plan)]
    assert not any(a.startswith(("-var", "-var-file", "-auto-approve")) for a in argv)
    assert res.ok and res.summary["operation"] == "apply" and res.changes_present is None
    assert lines.types() == ["version", "apply_start", "apply_complete", "change_summary"]


def test_apply_rc2_is_a_failure(standin):
    # Only plan runs with -detailed-exitcode; any other non-zero code is a failure.
    res = standin.driver(STANDIN_APPLY_RC="2").apply(standin.workdir, plan_file=standin.workdir / "p",
                                                     on_line=Lines())
    assert (res.exit_code, res.ok) == (2, False)


def test_raising_sink_interrupts_terraform_with_sigint(standin):
    class Stop(Exception):
        pass

    def on_line(line: str) -> None:
        if "Creating" in line:
            raise Stop

    with pytest.raises(Stop):
        standin.driver(STANDIN_HANG="1").apply(standin.workdir, plan_file=standin.workdir / "p", on_line=on_line)
    assert {"signal": "SIGINT"} in standin.calls()


def test_data_commands(standin):
    drv = standin.driver()
    assert drv.show_json(standin.workdir, standin.workdir / "p")["resource_changes"][0]["address"] == \
        "terraform_data.node[3]"
    assert drv.output(standin.workdir) == {"nodes": {"sensitive": False, "type": "string", "value": "node-3"}}
    assert drv.state_pull(standin.workdir) == b'{"version": 4, "serial": 7}\n'
    assert standin.argvs("show")[0] == ["show", "-no-color", "-json", str(standin.workdir / "p")]
    assert standin.argvs("output")[0] == ["output", "-no-color", "-json"]
    assert standin.argvs("state")[0] == ["state", "pull"]
    init = Lines()
    assert drv.init(standin.workdir, on_line=init).ok
    assert standin.argvs("init")[0] == ["init", "-input=false", "-no-color", "-json"]


def test_failing_data_command_raises_with_terraforms_message(standin):
    drv = standin.driver()
    with pytest.raises(TerraformCommandFailed, match="unknown command"):
        drv._capture(drv._argv("frobnicate"), standin.workdir)


def test_workspace_is_passed_as_tf_workspace_once_known_to_exist(standin):
    drv = choose_driver("binary", env=standin.env, workspace="staging")
    drv.output(standin.workdir)
    drv.state_pull(standin.workdir)
    assert standin.argvs("workspace") == [["workspace", "list"]]  # checked once per directory
    assert standin.calls()[0]["env"]["TF_WORKSPACE"] is None  # the listing itself is not steered
    assert standin.calls()[-1]["env"]["TF_WORKSPACE"] == "staging"


def test_a_missing_workspace_is_refused_not_created(standin):
    drv = choose_driver("binary", env=standin.env, workspace="prod")
    with pytest.raises(TerraformWorkspaceMissing, match=r"'prod' does not exist .*\(it has: default, staging\)"):
        drv.plan(standin.workdir, plan_file=standin.workdir / "p", vars={}, var_files=[], on_line=Lines())
    assert standin.argvs("plan") == []


def test_tofu_is_used_when_there_is_no_terraform(tmp_path):
    bindir = tmp_path / "bin"
    exe = install_standin(bindir, "tofu")
    drv = choose_driver("auto", env={"PATH": str(bindir), "STANDIN_LOG": str(tmp_path / "log")})
    assert isinstance(drv, BinaryDriver) and drv.executable == str(exe) and drv.flavour == "tofu"
    assert "-json" not in drv.init_argv()  # OpenTofu's init has no -json


def test_no_binary_means_embedded_or_a_clear_error(tmp_path):
    empty = {"PATH": str(tmp_path)}
    assert isinstance(choose_driver("auto", env=empty), EmbeddedDriver)
    with pytest.raises(TerraformUnavailable, match="no terraform or tofu executable on PATH"):
        choose_driver("binary", env=empty)
    with pytest.raises(ValueError, match="unknown terraform driver"):
        choose_driver("docker", env=empty)


def test_argv_builder_refuses_dict_options(tmp_path):
    # python-terraform would turn this into a temporary -var-file (its issue 67); the builder must refuse.
    (tmp_path / "terraform.tfstate").write_text("")  # an empty state would make python-terraform's constructor raise
    b = _ArgvBuilder(working_dir=str(tmp_path), terraform_bin_path="terraform")
    with pytest.raises(TypeError, match="#67"):
        b.generate_cmd_string("apply", "p.tfplan", var={"a": "b"})


def test_a_vanished_binary_is_a_clear_error(standin):
    drv = standin.driver()
    standin.exe.unlink()
    with pytest.raises(TerraformUnavailable, match="cannot run .*terraform"):
        drv.init(standin.workdir, on_line=Lines())
