"""``opsconsole sim``: run the rehearsal cluster in the foreground until SIGINT or SIGTERM.

It writes a kubeconfig with two contexts (``rehearsal`` and ``rehearsal-b``), prints how to point kubectl
at it, and serves until interrupted; exit status 0 on a clean stop, 1 with one sentence on a failure.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from kubesim import kubeconfig
from kubesim.faults import Faults
from kubesim.scenarios import SCENARIOS, make_clusters
from kubesim.server import SimHost

DEFAULT_KUBECONFIG = Path.home() / ".cache" / "opsconsole" / "sim-kubeconfig"


class OutagePlan:
    """--outage-at/--outage-for: go unreachable once, at a moment, for a while (real seconds)."""

    def __init__(self, at: float | None, duration: float) -> None:
        self.at, self.duration = at, duration

    def arm(self, host: SimHost, stop: threading.Event) -> None:
        if self.at is None:
            return

        def run() -> None:
            if not stop.wait(self.at):
                host.outage(self.duration)
                print(f"rehearsal cluster: unreachable for {self.duration:g}s", flush=True)
        threading.Thread(target=run, name="sim-outage", daemon=True).start()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``opsconsole sim``."""
    parser.add_argument("--scenario", default="default", choices=sorted(SCENARIOS), help="what the cluster starts with")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--kubeconfig", type=Path, default=None, help=f"where to write the kubeconfig (default: {DEFAULT_KUBECONFIG})")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    faults = parser.add_argument_group("faults")
    faults.add_argument("--drop-watches-every", type=float, metavar="SECONDS", help="cut every open watch connection this often")
    faults.add_argument("--expire-watches", type=int, default=0, metavar="N", help="answer the next N watch resumes with 410 Gone")
    faults.add_argument("--forbid", action="append", default=[], metavar="RESOURCE", help="answer 403 for this resource (repeatable)")
    faults.add_argument("--latency-ms", type=int, default=0, metavar="MS", help="delay every response")
    faults.add_argument("--outage-at", type=float, metavar="SECONDS", help="become unreachable this long after start")
    faults.add_argument("--outage-for", type=float, default=10.0, metavar="SECONDS", help="how long the outage lasts (default 10)")


def faults_from(args: argparse.Namespace) -> Faults:
    return Faults(drop_watches_every=args.drop_watches_every, expire_next_watches=args.expire_watches,
                  forbidden=set(args.forbid), latency_ms=args.latency_ms)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    if args.speed < 0:
        print("opsconsole sim: --speed must be zero or more.", file=sys.stderr)
        return 2
    _clock, clusters = make_clusters(args.scenario, speed=args.speed, faults=faults_from(args))
    host = SimHost(clusters, port=args.port)
    try:
        host.start()
    except OSError as e:
        print(f"opsconsole sim: cannot listen on 127.0.0.1:{args.port}: {e.strerror}.", file=sys.stderr)
        return 1
    path = args.kubeconfig or DEFAULT_KUBECONFIG
    try:
        kubeconfig.write(path, [kubeconfig.ContextSpec("rehearsal", host.url_for("rehearsal"), "default"),
                                kubeconfig.ContextSpec("rehearsal-b", host.url_for("b"), "staging")], "rehearsal")
    except OSError as e:
        host.stop()
        print(f"opsconsole sim: cannot write the kubeconfig {path}: {e.strerror}.", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    OutagePlan(args.outage_at, args.outage_for).arm(host, stop)
    main = clusters[0]
    print(f"Rehearsal cluster ({args.scenario}, speed {args.speed:g}x) serving at {host.url}\n"
          f"  {_count(main.store.count('nodes'), 'node')}, {_count(main.store.count('pods'), 'pod')}; "
          f"second context rehearsal-b at {host.url_for('b')}\n\n"
          f"  export KUBECONFIG={path}\n"
          f"  kubectl get pods -A\n"
          f"  kubectl --context rehearsal-b get pods\n\n"
          f"Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        host.stop()
    print("Rehearsal cluster stopped.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m kubesim.command``) for running the rehearsal cluster without the console."""
    parser = argparse.ArgumentParser(prog="opsconsole sim", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
