"""A change's pinned kubeconfig: the operator's merged config with the change's context current, in a private file
that reads back as written (the console's reader and kubectl alike), values that look like other YAML types included."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import yaml

from console.engine.kubecontext import PinnedKubeconfig, load_merged

KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: a
clusters:
  - {name: one, cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: "TFMwdExTMUNSVWRKVGlCRFJWSlU="}}
users:
  - name: u
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: /bin/echo
        args: ["--date", "2026-12-02", "--yes", "yes", "--octal", "0755", "--colon", "a: b"]
        env: [{name: ZONE, value: "ü-1"}]
contexts:
  - {name: a, context: {cluster: one, user: u}}
  - {name: b, context: {cluster: one, user: u, namespace: web}}
"""


def test_the_pinned_file_reads_back_as_the_merged_config_with_its_context_current(tmp_path: Path) -> None:
    source = tmp_path / "kubeconfig"
    source.write_text(KUBECONFIG, encoding="utf-8")
    pinned = PinnedKubeconfig("b", explicit=source)
    try:
        assert stat.S_IMODE(pinned.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(pinned.path.parent.stat().st_mode) == 0o700
        assert (pinned.context, pinned.namespace) == ("b", "web")
        expected = {**load_merged([source]), "current-context": "b"}
        assert yaml.safe_load(pinned.path.read_text(encoding="utf-8")) == expected
        args = expected["users"][0]["user"]["exec"]["args"]
        assert args == ["--date", "2026-12-02", "--yes", "yes", "--octal", "0755", "--colon", "a: b"]  # strings, still
        seen = subprocess.run(["kubectl", "--kubeconfig", str(pinned.path), "config", "view", "-o", "json"],
                              capture_output=True, text=True, timeout=30, check=True)
        view = json.loads(seen.stdout)
        assert view["current-context"] == "b"
        assert view["users"][0]["user"]["exec"]["args"] == args
        assert view["users"][0]["user"]["exec"]["env"] == [{"name": "ZONE", "value": "ü-1"}]
    finally:
        pinned.close()
    assert not pinned.path.parent.exists()
