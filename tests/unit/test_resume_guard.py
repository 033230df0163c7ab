"""A resume carries on with the change that was admitted: the refusals of resume_guard and the cluster identity
a kubeconfig gives (pure: no cluster, no files but a CA file written here)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from console.engine.kubecontext import cluster_identity
from console.engine.resume_guard import changed_cluster, changed_params, changed_policy
from console.journal import events as ev
from console.journal.chain import Event


def kubeconfig(server: str, origin: Path | None = None, **cluster: str) -> dict:
    """A merged kubeconfig (``merge_kubeconfigs``' form), its cluster entry read from ``origin``."""
    return {"contexts": {"prod": {"cluster": "c1", "user": "u"}},
            "clusters": {"c1": {"server": server, **cluster}, "c2": {"server": "https://other:6443"}},
            "origins": {"clusters": {"c1": origin} if origin else {}}}


def test_the_identity_is_the_contexts_server_and_its_ca() -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    with_data = cluster_identity(kubeconfig("https://k8s.example:6443",
                                            **{"certificate-authority-data": base64.b64encode(ca).decode()}), "prod")
    assert with_data == {"server": "https://k8s.example:6443", "ca_sha256": hashlib.sha256(ca).hexdigest()}
    assert cluster_identity(kubeconfig("https://k8s.example:6443"), "prod") == {"server": "https://k8s.example:6443",
                                                                                 "ca_sha256": ""}


def test_the_identity_reads_a_ca_file_and_leaves_credentials_out_of_the_url(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"the CA")
    found = cluster_identity(kubeconfig("https://admin:hunter2@k8s.example:6443",
                                        **{"certificate-authority": str(tmp_path / "ca.crt")}), "prod")
    assert found == {"server": "https://k8s.example:6443", "ca_sha256": hashlib.sha256(b"the CA").hexdigest()}
    gone = cluster_identity(kubeconfig("https://k8s.example:6443", **{"certificate-authority": str(tmp_path / "nope")}), "prod")
    assert gone["ca_sha256"] not in ("", found["ca_sha256"])  # unreadable is not the same as none
    # A relative path is read from the directory of the kubeconfig that names it, as kubectl reads it, wherever
    # the console runs from.
    relative = cluster_identity(kubeconfig("https://k8s.example:6443", tmp_path / "config",
                                           **{"certificate-authority": "ca.crt"}), "prod")
    assert relative == found


def test_another_value_for_a_recorded_parameter_is_refused_and_the_same_one_is_not() -> None:
    recorded = {"namespace": "data", "replicas": "3", "password": "[REDACTED]", "url": "db?password=[REDACTED]"}
    assert changed_params("CHG-2026-0001", recorded, {"namespace": "data", "replicas": 3}) is None
    assert changed_params("CHG-2026-0001", recorded, {"password": "new", "url": "db?password=x"}) is None  # masked
    refusal = changed_params("CHG-2026-0001", recorded, {"namespace": "web", "replicas": "3"})
    assert refusal == ("CHG-2026-0001 was admitted with other values (namespace=data on record, namespace=web given): "
                       "a resume carries on with the values the change was admitted with (leave the --param out, or "
                       "start a new change for other values)")


def event(seq: int, type_: str, data: dict) -> Event:
    return Event.trusted(seq, "2026-12-02T10:00:00.000000Z", type_, data, "0" * 64, "1" * 64)


def test_another_policy_than_the_one_that_admitted_the_change_is_refused() -> None:
    events = [event(1, ev.CHANGE_CREATED, {}), event(2, ev.POLICY_CHECKED, {"policy_sha256": "a" * 64, "checks": []})]
    assert changed_policy("CHG-2026-0001", events, "a" * 64, "/srv/ops/opsconsole.toml") is None
    refusal = changed_policy("CHG-2026-0001", events, "b" * 64, "/home/bob/opsconsole.toml")
    assert refusal is not None and refusal.startswith(
        "CHG-2026-0001 was admitted under another policy (sha256 aaaaaaaaaaaa…) than this one (/home/bob/opsconsole.toml, "
        "sha256 bbbbbbbbbbbb…)")
    # A change still waiting for its signatures has no verdicts yet: its policy is checked when it opens.
    assert changed_policy("CHG-2026-0001", events[:1], "b" * 64, "x") is None


def test_a_context_reaching_another_cluster_is_refused() -> None:
    at_start = {"server": "https://10.0.0.1:6443", "ca_sha256": "c" * 64}
    assert changed_cluster("CHG-2026-0001", "prod", at_start, dict(at_start)) is None
    assert changed_cluster("CHG-2026-0001", "prod", None, {"server": "https://x", "ca_sha256": ""}) is None  # older record
    moved = changed_cluster("CHG-2026-0001", "prod", at_start, {"server": "https://10.9.9.9:6443", "ca_sha256": "c" * 64})
    assert moved == ("CHG-2026-0001 was started on the cluster at https://10.0.0.1:6443; context 'prod' in this "
                     "kubeconfig reaches https://10.9.9.9:6443: resume with the kubeconfig the change started with "
                     "(--kubeconfig)")
    other_ca = changed_cluster("CHG-2026-0001", "prod", at_start, {"server": "https://10.0.0.1:6443", "ca_sha256": "d" * 64})
    assert other_ca is not None and "with another CA" in other_ca


def test_a_secret_typed_again_is_checked_against_its_salted_scrypt_never_shown() -> None:
    from console.engine.resume_guard import changed_secrets, value_checks

    checks = value_checks({"password": "S3cret-Passw0rd", "ticket": "SEC-1", "empty": ""}, ["password", "empty"])
    assert list(checks) == ["password"]  # only secrets, only ones with a value
    assert "S3cret" not in str(checks) and len(checks["password"]["scrypt"]) == 64
    # Salted: the same value twice gives two different checks.
    assert value_checks({"password": "S3cret-Passw0rd"}, ["password"])["password"] != checks["password"]
    assert changed_secrets("CHG-2026-0001", checks, {"password": "S3cret-Passw0rd"}) is None
    assert changed_secrets("CHG-2026-0001", checks, {}) is None  # not given: the resume asks for it or refuses anyway
    assert changed_secrets("CHG-2026-0001", None, {"password": "anything"}) is None  # a record from before the checks
    refusal = changed_secrets("CHG-2026-0001", checks, {"password": "S3cret-Passw0rdx"})
    assert refusal == ("CHG-2026-0001: the value given for secret parameter(s) password is not the one the change "
                       "started with (its check on record does not match): give it again as it was")
