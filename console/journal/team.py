"""The record store shared by a team through git: commits of each change, sync with a remote, team-wide IDs.

A store directory that is a git repository (``git init``, or ``opsconsole records sync --remote URL``) is a
team store. Git itself is driven as a subprocess, not through a binding: operators already have it, its
configuration (user, SSH commit signing, credentials, proxies) applies unchanged, and every step can be repeated
by hand when something goes wrong at 2 a.m.

- Each change directory is committed alone (``git commit -- DIR``) at close-out and at each addendum, so a commit
  is one change's record at one moment; commits are signed when git is configured to sign them.
- ``sync`` fetches, merges and pushes. Two consoles never write the same directory (each change has its own),
  so merges never conflict on records; a push that loses a race fetches and tries again.
- A change ID is claimed on the remote as a ref, ``refs/opsconsole/ids/CHG-YYYY-NNNN``, pointing at a commit that
  names the claimant. Creating a ref is a compare-and-swap in git's receive-pack (the old value must still be
  absent), so of two consoles claiming one number exactly one wins; the other takes the next.
- With the remote unreachable, policy decides: ``refuse`` to start, or a *provisional* ID
  (``CHG-YYYY-PNNNN.HOST``, unique to this host) that the record keeps for ever; a later sync claims a team ID
  and appends a ``change.aliased`` event naming it (the chain is never rewritten).
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from console.errors import OpsConsoleError

ID_REF_PREFIX = "refs/opsconsole/ids/"
BRANCH = "main"
REMOTE = "origin"
# What never belongs in the shared history: per-process locks, per-host ID markers, the regenerable index.
IGNORED = (".lock", "*/.lock", "*/*/.lock", ".ids/", ".index.json", ".index.json.*")
GIT_TIMEOUT_S = 60
PUSH_ATTEMPTS = 8
CLAIM_ATTEMPTS = 200


class TeamStoreError(OpsConsoleError):
    """A git operation on the team store failed; the message says which and why."""


class RemoteUnreachable(TeamStoreError):
    """The team store's remote could not be reached (network, credentials, a missing repository)."""


@dataclass(frozen=True)
class SyncResult:
    """What one sync did."""

    fetched: bool
    pushed: bool
    message: str


def host_tag() -> str:
    """This host's name as an ID suffix: lower-case letters, digits and ``-``."""
    tag = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    return tag[:32] or "host"


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never wait for a password prompt: a console that hangs on a credential helper at start is frozen.
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=10")
    # A committer is needed even on a machine where git was never set up; the operator's own config wins.
    user = getpass.getuser()
    env.setdefault("GIT_AUTHOR_NAME", user)
    env.setdefault("GIT_AUTHOR_EMAIL", f"{user}@{socket.gethostname()}")
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    return env


class TeamStore:
    """Git operations on one record store directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- plumbing -------------------------------------------------------------------------------------------

    def git(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run ``git -C ROOT ARGS``; raises ``TeamStoreError`` with git's own last line when it fails."""
        try:
            proc = subprocess.run(
                ["git", "-C", str(self.root), *args], input=input, capture_output=True, env=_git_env(),
                timeout=GIT_TIMEOUT_S, check=False,
            )
        except FileNotFoundError:
            raise TeamStoreError("git is not installed: a team record store needs it") from None
        except subprocess.TimeoutExpired:
            raise RemoteUnreachable(f"git {args[0]} in {self.root} took more than {GIT_TIMEOUT_S}s") from None
        if check and proc.returncode != 0:
            raise TeamStoreError(f"git {' '.join(args[:2])} in {self.root} failed: {_last_line(proc)}")
        return proc

    @property
    def enabled(self) -> bool:
        """True when the store is a git repository of its own (not merely inside someone else's)."""
        return (self.root / ".git").exists()

    def remote_url(self) -> str | None:
        if not self.enabled:
            return None
        proc = self.git("remote", "get-url", REMOTE, check=False)
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    def init(self, remote: str | None = None) -> None:
        """Make the store a git repository (idempotent) and point it at ``remote`` when given."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.enabled:
            self.git("init", "-q", "-b", BRANCH)
        ignore = self.root / ".gitignore"
        wanted = "\n".join(IGNORED) + "\n"
        if not ignore.exists() or ignore.read_text() != wanted:
            ignore.write_text(wanted)
            self.git("add", ".gitignore")
            self._commit("Record store: what is never shared", [".gitignore"])
        if remote:
            current = self.remote_url()
            if current is None:
                self.git("remote", "add", REMOTE, remote)
            elif current != remote:
                self.git("remote", "set-url", REMOTE, remote)

    def _commit(self, message: str, paths: Sequence[str]) -> bool:
        """Commit exactly ``paths`` (nothing else staged goes with it); False when there was nothing new."""
        self.git("add", "--", *paths)
        staged = self.git("diff", "--cached", "--quiet", "--", *paths, check=False)
        if staged.returncode == 0:
            return False
        self.git("commit", "-q", "-m", message, "--", *paths)
        return True

    # -- records ---------------------------------------------------------------------------------------------

    def commit_change(self, change_dir: Path, message: str) -> bool:
        """Commit one change's directory; a no-op (False) when the store is not a git repository."""
        if not self.enabled:
            return False
        rel = os.path.relpath(change_dir, self.root)
        return self._commit(message, [rel])

    def commit_path(self, path: Path, message: str) -> bool:
        """Commit one file or directory under the store (the refused-start log, for example)."""
        if not self.enabled or not path.exists():
            return False
        return self._commit(message, [os.path.relpath(path, self.root)])

    def sync(self) -> SyncResult:
        """Fetch, merge and push the store's branch; retried when another console pushed in between.

        Raises ``RemoteUnreachable`` when the remote cannot be reached, ``TeamStoreError`` for anything else.
        """
        if not self.enabled:
            raise TeamStoreError(f"{self.root} is not a team store (run: opsconsole records sync --remote URL)")
        url = self.remote_url()
        if url is None:
            raise TeamStoreError(f"{self.root} has no remote (run: opsconsole records sync --remote URL)")
        for _ in range(PUSH_ATTEMPTS):
            self._fetch()
            self._merge()
            push = self.git("push", "-q", REMOTE, f"HEAD:refs/heads/{BRANCH}", check=False)
            if push.returncode == 0:
                return SyncResult(True, True, f"synced with {url}")
            if not _rejected(push):
                raise RemoteUnreachable(f"cannot push to {url}: {_last_line(push)}")
        raise TeamStoreError(f"gave up pushing to {url} after {PUSH_ATTEMPTS} attempts: others keep pushing")

    def pull(self) -> SyncResult:
        """Fetch and merge only (what a start needs to count the team's changes); never pushes."""
        url = self.remote_url() if self.enabled else None
        if url is None:
            return SyncResult(False, False, "no remote: counted from this store alone")
        self._fetch()
        self._merge()
        return SyncResult(True, False, f"fetched from {url}")

    def _fetch(self) -> None:
        proc = self.git("fetch", "-q", REMOTE, check=False)
        if proc.returncode != 0:
            raise RemoteUnreachable(f"cannot reach {self.remote_url()}: {_last_line(proc)}")

    def _merge(self) -> None:
        remote_ref = f"refs/remotes/{REMOTE}/{BRANCH}"
        if self.git("rev-parse", "-q", "--verify", remote_ref, check=False).returncode != 0:
            return  # an empty remote: nothing to merge yet
        if self.git("rev-parse", "-q", "--verify", "HEAD", check=False).returncode != 0:
            self.git("reset", "-q", remote_ref)  # a fresh store adopts the team's history
            self.git("checkout", "-q", "--", ".")
            return
        merge = self.git("merge", "-q", "--no-edit", "--allow-unrelated-histories", remote_ref, check=False)
        if merge.returncode != 0:
            self.git("merge", "--abort", check=False)
            raise TeamStoreError(
                f"the team store in {self.root} cannot merge {REMOTE}/{BRANCH}: {_last_line(merge)} "
                "(records are append-only per change; someone changed a shared file by hand)"
            )

    # -- IDs ---------------------------------------------------------------------------------------------------

    def claimed_numbers(self, year: int) -> list[int]:
        """The numbers already claimed on the remote for ``year``."""
        proc = self.git("ls-remote", "--refs", REMOTE, f"{ID_REF_PREFIX}CHG-{year:04d}-*", check=False)
        if proc.returncode != 0:
            raise RemoteUnreachable(f"cannot reach {self.remote_url()}: {_last_line(proc)}")
        numbers = []
        for line in proc.stdout.decode().splitlines():
            m = re.search(rf"{ID_REF_PREFIX}CHG-{year:04d}-(\d{{4,}})$", line)
            if m:
                numbers.append(int(m.group(1)))
        return numbers

    def claim_id(self, year: int, *, floor: int = 0, who: str = "") -> str:
        """Claim the next free team ID on the remote; the lowest number above every claimed one and ``floor``."""
        if self.remote_url() is None:
            raise TeamStoreError(f"{self.root} has no remote to claim an ID on")
        claimant = who or f"{getpass.getuser()}@{socket.gethostname()}"
        n = max([floor, *self.claimed_numbers(year)]) + 1
        for _ in range(CLAIM_ATTEMPTS):
            change_id = f"CHG-{year:04d}-{n:04d}"
            # A commit of its own per claim, made unique by a nonce: two claims in the same second by the same
            # person would otherwise be the same commit, and pushing a ref to the commit it already names succeeds.
            tree = self.git("hash-object", "-t", "tree", "-w", "--stdin", input=b"").stdout.decode().strip()
            commit = self.git(
                "commit-tree", tree, "-m", f"{change_id} claimed by {claimant} (pid {os.getpid()}, claim {uuid.uuid4()})",
            ).stdout.decode().strip()
            push = self.git("push", "-q", REMOTE, f"{commit}:{ID_REF_PREFIX}{change_id}", check=False)
            if push.returncode == 0:
                return change_id
            if not _rejected(push):
                raise RemoteUnreachable(f"cannot claim {change_id} on {self.remote_url()}: {_last_line(push)}")
            n += 1  # someone else has it: the next one (the listing may be a moment old)
        raise TeamStoreError(f"could not claim an ID on {self.remote_url()} after {CLAIM_ATTEMPTS} attempts")


def _last_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = (proc.stderr or proc.stdout or b"").decode(errors="replace").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit status {proc.returncode}"


def _rejected(proc: subprocess.CompletedProcess[bytes]) -> bool:
    """A push the remote refused because the ref moved (a lost race), as opposed to one that never arrived."""
    text = (proc.stderr or b"").decode(errors="replace")
    return any(s in text for s in (
        "[rejected]", "non-fast-forward", "fetch first", "already exists", "failed to update ref",
        "cannot lock ref", "failed to lock", "reference already exists", "[remote rejected]",
    ))
