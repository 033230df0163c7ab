"""A stand-in ``terraform`` executable for the binary driver's tests (copied into a PATH directory by the tests).

It records each argv (and the environment variables the driver sets) as one JSON line in ``$STANDIN_LOG``, then
behaves like Terraform 1.11 with ``-json``: one UI message per line on stdout, flushed as written.

- ``plan``: a version line, a planned_change, then (if ``$STANDIN_GATE`` is set) waits until that file exists,
  which the test creates from inside ``on_line`` when the first lines arrive: line 3 says whether the gate was
  seen, proving the first lines were delivered while the process was still running. Writes ``-out``, exits
  ``$STANDIN_PLAN_RC`` (default 2: changes present), with an error diagnostic when that is 1.
- ``apply``: a version line, apply_start/apply_complete, a change_summary; ``$STANDIN_APPLY_RC`` (default 0).
  With ``$STANDIN_HANG`` set it prints one line and waits for SIGINT, then records it and exits 130.
- ``show -json``, ``output -json``, ``state pull``, ``version -json``, ``init``: canned output.
"""

import json
import os
import signal
import sys
import time


def emit(kind: str, message: str, **extra: object) -> None:
    line = {"@level": extra.pop("level", "info"), "@message": message, "@module": "terraform.ui", "type": kind}
    line.update(extra)
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main() -> int:
    argv = sys.argv[1:]
    with open(os.environ["STANDIN_LOG"], "a") as log:
        env = {k: os.environ.get(k) for k in ("TF_IN_AUTOMATION", "TF_INPUT", "CHECKPOINT_DISABLE", "TF_WORKSPACE")}
        log.write(json.dumps({"argv": argv, "cwd": os.getcwd(), "env": env}) + "\n")
    cmd = argv[0] if argv else ""
    if cmd == "version":
        print(json.dumps({"terraform_version": "1.11.4", "platform": "linux_amd64"}))
        return 0
    if cmd == "init":
        emit("version", "Terraform 1.11.4", terraform="1.11.4", ui="1.2")
        emit("init_output", "Terraform has been successfully initialized!")
        return 0
    if cmd == "plan":
        emit("version", "Terraform 1.11.4", terraform="1.11.4", ui="1.2")
        emit("planned_change", "terraform_data.node[3]: Plan to create",
             change={"resource": {"addr": "terraform_data.node[3]"}, "action": "create"})
        gate = os.environ.get("STANDIN_GATE")
        if gate:
            deadline = time.monotonic() + 10
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.01)
            emit("log", "gate seen" if os.path.exists(gate) else "gate timeout")
        sys.stderr.write("Warning: a line on stderr\n")
        sys.stderr.flush()
        rc = int(os.environ.get("STANDIN_PLAN_RC", "2"))
        if rc == 1:
            emit("diagnostic", "Error: No value for required variable", level="error",
                 diagnostic={"severity": "error", "summary": "No value for required variable"})
            return 1
        out = next(a.split("=", 1)[1] for a in argv if a.startswith("-out="))
        with open(out, "wb") as f:
            f.write(b"PK\x03\x04 stand-in plan")
        emit("change_summary", "Plan: 2 to add, 0 to change, 0 to destroy.",
             changes={"add": 2 if rc == 2 else 0, "change": 0, "import": 0, "remove": 0, "operation": "plan"})
        return rc
    if cmd == "apply":
        emit("version", "Terraform 1.11.4", terraform="1.11.4", ui="1.2")
        if os.environ.get("STANDIN_HANG"):
            interrupted = []
            signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
            emit("apply_start", "terraform_data.node[3]: Creating...")
            deadline = time.monotonic() + 10
            while not interrupted and time.monotonic() < deadline:
                time.sleep(0.01)
            with open(os.environ["STANDIN_LOG"], "a") as log:
                log.write(json.dumps({"signal": "SIGINT" if interrupted else "none"}) + "\n")
            emit("log", "Interrupt received. Gracefully shutting down...")
            return 130
        emit("apply_start", "terraform_data.node[3]: Creating...")
        emit("apply_complete", "terraform_data.node[3]: Creation complete after 0s")
        emit("change_summary", "Apply complete! Resources: 2 added, 0 changed, 0 destroyed.",
             changes={"add": 2, "change": 0, "import": 0, "remove": 0, "operation": "apply"})
        return int(os.environ.get("STANDIN_APPLY_RC", "0"))
    if cmd == "show":
        print(json.dumps({"format_version": "1.2", "planned_values": {}, "resource_changes": [
            {"address": "terraform_data.node[3]", "type": "terraform_data", "change": {"actions": ["create"]}}]}))
        return 0
    if cmd == "output":
        print(json.dumps({"nodes": {"sensitive": False, "type": "string", "value": "node-3"}}))
        return 0
    if argv[:2] == ["workspace", "list"]:
        print("* default\n  staging\n")
        return 0
    if argv[:2] == ["state", "pull"]:
        sys.stdout.buffer.write(b'{"version": 4, "serial": 7}\n')
        return 0
    sys.stderr.write(f"stand-in: unknown command {argv}\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
