"""``opsconsole watch``'s parser and handler: scope as kubectl chooses it, one-sentence errors, exit codes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from console.cluster.dashboard_cli import add_watch_command, cmd_watch, resolve_scope
from console.cluster.kube import KubeAccess, NoSuchContext
from kubesim import kubeconfig


def never_started(**kwargs: object) -> int:
    raise AssertionError(f"the dashboard started on a problem the operator must fix first: {kwargs}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opsconsole")
    add_watch_command(p.add_subparsers(dest="command"), start_watch=never_started)
    return p


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    kubeconfig.write(path, [kubeconfig.ContextSpec("rehearsal", "http://127.0.0.1:9", "web"),
                            kubeconfig.ContextSpec("rehearsal-b", "http://127.0.0.1:9", "staging")], "rehearsal")
    return path


def test_scope_follows_kubectl(config: Path) -> None:
    kube = KubeAccess(config)
    assert resolve_scope(kube, None, None, False) == ("rehearsal", "web")  # the context's own namespace
    assert resolve_scope(kube, "rehearsal-b", None, False) == ("rehearsal-b", "staging")
    assert resolve_scope(kube, None, "data", False) == ("rehearsal", "data")
    assert resolve_scope(kube, None, None, True) == ("rehearsal", None)
    with pytest.raises(NoSuchContext):
        resolve_scope(kube, "prod", None, False)


def test_namespace_and_all_namespaces_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["watch", "-n", "web", "-A"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_unknown_context_is_one_sentence_and_exit_1(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["watch", "--kubeconfig", str(config), "--context", "prod"])
    assert cmd_watch(args, start_watch=never_started) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("opsconsole watch: context 'prod' is not in the kubeconfig")
    assert len(err.splitlines()) == 1


def test_missing_kubeconfig_is_one_sentence_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["watch", "--kubeconfig", str(tmp_path / "nope"), "-A"])
    assert cmd_watch(args, start_watch=never_started) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("opsconsole watch: no kubeconfig found") and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [["watch"], ["watch", "-A", "--context", "rehearsal-b"], ["watch", "-n", "web", "--kubeconfig", "k"],
                                  ["watch", "--config", "p.toml"]])
def test_watch_parses_alike_through_its_own_parser_and_the_full_one(argv: list[str]) -> None:
    """``opsconsole watch`` skips building every other command's parser; what it parses is the same."""
    from console.cli import _parser_for, build_parser

    fast, full = vars(_parser_for(argv).parse_args(argv)), vars(build_parser().parse_args(argv))
    fast_func, full_func = fast.pop("func"), full.pop("func")
    assert fast_func.func is full_func.func is cmd_watch and fast_func.keywords == full_func.keywords
    full.pop("runbooks_dir")  # a global option of the full parser, which watch does not read
    full.pop("records_dir")
    assert fast == full
