"""Team IDs: claiming change IDs on a shared git remote, with two stores (two operators) claiming at once.

Usage: python benchmarks/team_ids.py [--quick]

Figures: ``team_id_claims`` — N concurrent ``create_change`` calls spread over two stores sharing one bare
remote (every ID claimed on the remote as a ref; lost races take the next number), total seconds and IDs per
second, with the number of distinct IDs (must equal N). Baseline in the same run: the same N creations in one
store with no remote (the local flock and O_EXCL markers only). Also: one ``git push`` of a ref to the same
remote, the floor under every claim.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from shape import emit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.journal.store import RecordStore

WHEN = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def create_all(stores: list[RecordStore], n: int, workers: int) -> tuple[float, list[str]]:
    def one(i: int) -> str:
        return stores[i % len(stores)].create_change(component="web", from_version="1", to_version="2", when=WHEN).change_id

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ids = list(pool.map(one, range(n)))
    return time.perf_counter() - t, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer claims")
    args = parser.parse_args()
    n = 20 if args.quick else 50
    with tempfile.TemporaryDirectory(prefix="opsconsole-team-ids-") as tmp:
        root = Path(tmp)
        remote = root / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
        stores = [RecordStore(root / name) for name in ("alice", "bob")]
        for s in stores:
            s.team.init(str(remote))
        local = RecordStore(root / "local")
        base_s, base_ids = create_all([local], n, 10)
        team_s, team_ids = create_all(stores, n, 10)
        t = time.perf_counter()
        tree = stores[0].team.git("hash-object", "-t", "tree", "-w", "--stdin", input=b"").stdout.decode().strip()
        commit = stores[0].team.git("commit-tree", tree, "-m", "probe").stdout.decode().strip()
        stores[0].team.git("push", "-q", "origin", f"{commit}:refs/probe/one")
        push_s = time.perf_counter() - t
    emit("team_id_claims", team_s, "s", base_s, target=f"{n} distinct IDs", met=len(set(team_ids)) == n,
         ids=n, distinct=len(set(team_ids)), per_s=round(n / team_s, 1), local_distinct=len(set(base_ids)))
    emit("git_push_one_ref", push_s, "s")


if __name__ == "__main__":
    main()
