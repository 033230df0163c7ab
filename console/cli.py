"""The ``opsconsole`` command: argument parsing, one-sentence errors, and a lazy start of the Textual app.

Exit codes (the README's table): 0 success; 1 failed, rolled back, aborted or refused (a change stopped and left
open too); 2 a usage error. Nothing here prints a traceback for a problem the operator can fix; a bug still does,
so it gets reported rather than hidden.

Every handler imports what it uses inside itself, for start-up cost, not to break a cycle: building the parser
loads neither pydantic, the engine nor Textual, so ``--help``, ``records`` and the other quick commands pay only
for what they run. The screens are imported the same way, inside the one function that starts each (``_ui``,
``_start_review``, ``_start_watch``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console import __version__
from console.errors import OpsConsoleError

if TYPE_CHECKING:  # the modules themselves are imported where used, for start-up time
    from console.cluster.kube import KubeAccess
    from console.cluster.source import WatchHandle
    from console.config import Policy
    from console.engine.linemode import LineDriver
    from console.engine.policy import Approval
    from console.engine.session import ChangeSession, StartRequest
    from console.journal.store import ChangeRef, RecordStore

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

# The answers file's format, in run --help and resume --help (its schema: opsconsole schema --answers).
ANSWERS_HELP = """\
operator: alice
params: {namespace: web}
approvals: [{name: bob, role: senior-engineer, reference: CHG-TICKET-1}]
emergency: {reason: "...", approver: carol}          # only for an emergency change
confirm: {restart: web, update-config: yes}          # a word per step, or a list tried in order
manual: {review: {answer: done, note: "plan read"}}
approve: {sign: {name: dave, role: engineering-manager}}
failure: {wait: retry, gate-x: {choice: continue, reason: "...", approver: erin}}   # on_failure: rollback needs none
close: {outcome: auto, followups: ["..."], signoff: {name: alice, role: operator}}
"""


class CliError(OpsConsoleError):
    """A problem to report to the operator as one sentence, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAIL):
        super().__init__(message)
        self.code = code


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


# -- runbooks --------------------------------------------------------------------------------------------------


def _runbook_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise CliError(f"{p}: no runbooks (*.yaml) in this directory")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise CliError(f"{p}: no such file or directory")
    return files


def cmd_lint(args: argparse.Namespace) -> int:
    from console.runbook.lint import lint
    from console.runbook.loader import RunbookError, load_runbook

    failed = warned = 0
    files = _runbook_files(args.paths)
    for path in files:
        try:
            loaded = load_runbook(path)
        except RunbookError as exc:
            failed += 1
            for problem in exc.problems:
                _out(str(problem))
            continue
        findings = lint(loaded, warnings=True)
        if any(f.blocking for f in findings):
            failed += 1
        warned += sum(not f.blocking for f in findings)  # printed, but a warning never fails lint
        for finding in findings:
            _out(str(finding))
    if not args.quiet:
        _err(f"{len(files)} runbook(s) checked, {failed} with problems" + (f", {warned} warning(s)" if warned else ""))
    return EXIT_FAIL if failed else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    if args.answers:
        from console.engine.answers_schema import json_schema as answers_schema

        _out(json.dumps(answers_schema(), indent=2, sort_keys=False))
        return EXIT_OK
    from console.runbook.models import json_schema

    _out(json.dumps(json_schema(), indent=2, sort_keys=False))
    return EXIT_OK


# -- records ---------------------------------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> RecordStore:
    from console.review.review_cli import open_store  # one way to open the store, for the reviewer's commands too

    return open_store(args)


def _find(store: RecordStore, change_id: str) -> ChangeRef:
    from console.review.review_cli import find_change

    return find_change(store, change_id)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)).rstrip() for r in rows]


def cmd_records_sync(args: argparse.Namespace) -> int:
    """Share the store through git: claim team IDs for provisional changes, commit closed ones, pull and push."""
    from console.journal.store import RecordStore
    from console.journal.team import TeamStoreError
    from console.journal.team_sync import describe, sync_store
    from console.review.records import resolve_records_dir

    policy = _policy(args)
    root = resolve_records_dir(args.records_dir, configured=policy.records_dir)
    remote = args.remote or policy.store.remote
    store = RecordStore(root)
    if not store.team.enabled and not remote:
        raise CliError(f"{root} is not shared yet: name its git remote once with --remote URL (or [store] remote in policy)",
                       EXIT_USAGE)
    try:
        store.team.init(remote)
    except TeamStoreError as exc:
        raise CliError(str(exc)) from None
    report = sync_store(store)
    for line in describe(report):
        _out(line)
    return 0 if report.ok else 1


def cmd_records_list(args: argparse.Namespace) -> int:
    from console.review.records import load_change

    store = _store(args)
    if args.refused:
        return _list_refused(store, as_json=args.json)
    changes = [load_change(store, ref) for ref in store.list_changes()]
    if args.json:
        for c in changes:
            s = c.summary
            _out(json.dumps({
                "id": c.ref.change_id, "date": s.date or c.ref.date, "component": s.component or c.ref.component,
                "from": s.from_version, "to": s.to_version, "risk": s.risk, "environment": s.environment,
                "operator": s.operator, "outcome": s.outcome, "integrity": c.integrity, "path": str(c.ref.path),
            }))
        return EXIT_OK
    if not changes:
        _err(f"no changes in {store.root}")
        return EXIT_OK
    rows = [["ID", "DATE", "COMPONENT", "FROM→TO", "RISK", "ENVIRONMENT", "OPERATOR", "OUTCOME", "INTEGRITY"]]
    for c in changes:
        s = c.summary
        rows.append([
            c.ref.change_id, s.date or c.ref.date, s.component or c.ref.component,
            f"{s.from_version or c.ref.from_version}→{s.to_version or c.ref.to_version}", s.risk or "?",
            s.environment or "?", s.operator or "?", (s.outcome or "in progress").replace("_", " "),
            "ok" if c.report.ok else "BROKEN",
        ])
    for line in _table(rows):
        _out(line)
    _list_obligations(store, _policy(args))
    return EXIT_OK


def _list_obligations(store: RecordStore, policy: Policy) -> None:
    """What emergencies still owe (a post-mortem, and signed approvals where policy wanted them, within policy's
    hours), under the table."""
    from datetime import UTC, datetime

    from console.review.obligations import open_obligations

    owed = open_obligations(store, policy.emergency.post_mortem_hours)
    if owed:
        now = datetime.now(UTC)
        _out("")
        sign = "; sign: opsconsole approve ID" if any(o.what.startswith("retro-approval") for o in owed) else ""
        _out(f"Emergencies owe (add: opsconsole records addendum ID --kind post-mortem{sign}):")
        for o in owed:
            _out(f"  {'OVERDUE ' if o.overdue(now) else ''}{o.describe(now)}")


def _list_refused(store: RecordStore, *, as_json: bool) -> int:
    """Refused starts, oldest first (newest last); exit 1 when a log is damaged, after what can be read."""
    from console.journal.audit import read_refusals, refusal_rows

    log = read_refusals(store.root)
    if as_json:
        for r in log.entries:
            _out(json.dumps({"ts": r.ts, **r.data, "log": str(r.path), "line": r.line}, ensure_ascii=False))
    elif log.entries:
        for line in _table(refusal_rows(log.entries)):
            _out(line)
    elif not log.problems:
        _err(f"no refused starts in {store.root}")
    for problem in log.problems:
        _err(f"opsconsole: {problem} (later entries of that log are not shown)")
    return EXIT_FAIL if log.problems else EXIT_OK


def cmd_records_show(args: argparse.Namespace) -> int:
    from console.journal.journal import read_events, verify
    from console.review.render import render_record

    store = _store(args)
    ref = _find(store, args.change_id)
    journal = store.journal_path(ref)
    report = verify(journal)
    text = render_record(read_events(journal).events, head=report.head,
                         integrity="verified" if report.ok else f"BROKEN: {report.first}", change_id=ref.change_id)
    _out(text)
    return EXIT_OK if report.ok else EXIT_FAIL


def cmd_records_verify(args: argparse.Namespace) -> int:
    from console.journal.audit import describe, verify_refusals
    from console.review.records import describe_problem, load_change

    store = _store(args)
    if args.head and len(args.change_ids) != 1:
        raise CliError("--head checks one change: name exactly one change ID with it", EXIT_USAGE)
    refs = [_find(store, cid) for cid in args.change_ids] if args.change_ids else store.list_changes()
    # Without IDs the refused-start logs are part of the store and are checked too.
    logs = [] if args.change_ids else verify_refusals(store.root)
    if not refs and not logs:
        _err(f"no changes in {store.root}")
        return EXIT_OK
    broken = 0
    for ref in refs:
        change = load_change(store, ref, head=args.head)
        if change.report.ok:
            extra = f"; {'; '.join(change.report.warnings)}" if change.report.warnings else ""
            _out(f"{ref.change_id}: ok ({change.report.events} events, head {change.report.head}){extra}")
            if args.head and change.report.after_head:
                _out(f"  the kept head {args.head.strip()} is followed by {len(change.report.after_head)} event(s) "
                     "that may follow it:")
                for line, event_type in change.report.after_head:
                    _out(f"    journal.jsonl line {line}: {event_type}")
        else:
            broken += 1
            _out(describe_problem(change))
        if not _signatures_hold(store, ref):
            broken += 1
    for path, report in logs:
        name = path.relative_to(store.root)
        if report.ok:
            extra = f"; {'; '.join(report.warnings)}" if report.warnings else ""
            _out(f"{name}: ok ({report.events} entries, head {report.head}){extra}")
        else:
            broken += 1
            first = report.problems[0]
            _out(describe(name, first.line, first.reason))
    return EXIT_FAIL if broken else EXIT_OK


def _signatures_hold(store: RecordStore, ref: ChangeRef) -> bool:
    """Print who signed what in the change, each checked offline against the record's allowed-signers copy."""
    from console.governance.record_check import check_record
    from console.journal.journal import read_events

    findings = check_record(ref.path, read_events(store.journal_path(ref)).events)
    for f in findings:
        _out(f"  {'ok' if f.ok else 'BROKEN'}: {f.text}")
    return all(f.ok for f in findings)


def cmd_records_render(args: argparse.Namespace) -> int:
    from console.review.records import render_to_disk

    store = _store(args)
    path = render_to_disk(store, _find(store, args.change_id))
    _out(str(path))
    return EXIT_OK


# -- changes ---------------------------------------------------------------------------------------------------


def _policy(args: argparse.Namespace) -> Policy:
    from console.config import load_policy

    return load_policy(getattr(args, "config", None))


def _parse_approvals(items: Sequence[str]) -> list[Approval]:
    from console.engine.policy import Approval

    out: list[Approval] = []
    for item in items:
        parts = item.split(":", 2)
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise CliError(f"--approval {item!r} is not of the form NAME:ROLE[:REFERENCE]", EXIT_USAGE)
        out.append(Approval(parts[0].strip(), parts[1].strip(), parts[2].strip() if len(parts) > 2 else ""))
    return out


def _given_params(items: Sequence[str], *, approvals: Sequence[str] = ()) -> dict[str, str]:
    """The ``--param`` values; every malformed ``--param`` and ``--approval`` is said at once, as a usage error."""
    from console.runbook.params import ParamError, parse_assignments

    problems: list[str] = []
    given: dict[str, str] = {}
    for item in items:
        try:
            parsed = parse_assignments([item])
        except ParamError as exc:
            problems.append(str(exc))
            continue
        for key, value in parsed.items():
            # A name given twice is an edited command line (a namespace typed again at the end): which value was
            # meant is not the console's to guess. The values are not repeated, since either may be a secret.
            if key in given and given[key] != value:
                problems.append(f"--param {key} is given twice with different values: give it once")
            given[key] = value
    for item in approvals:
        try:
            _parse_approvals([item])
        except CliError as exc:
            problems.append(str(exc))
    if problems:
        raise CliError("\n".join(problems), EXIT_USAGE)
    return given


def _current_context(kubeconfig: str | None) -> str:
    from console.engine.kubecontext import kubeconfig_paths, load_merged

    config = load_merged(kubeconfig_paths(kubeconfig))
    if not config.get("current-context"):
        raise CliError("the kubeconfig has no current context: name one with --context")
    return str(config["current-context"])


def _unmapped_context(context: str, kubeconfig: str | None, policy: Policy) -> str:
    """Why a context has no environment: not in the kubeconfig at all, or not named by policy."""
    from console.engine.kubecontext import kubeconfig_paths, load_merged

    source = "the built-in default policy" if policy.source.startswith("(") else f"policy {policy.source}"
    known = [str(c.get("name")) for c in load_merged(kubeconfig_paths(kubeconfig)).get("contexts") or []]
    if context not in known:
        listed = ", ".join(known) or "none"
        return f"context {context!r} is not in the kubeconfig (its contexts: {listed})"
    return f"context {context!r} maps to no environment in {source}; map it there or name one with --environment"


def _resolve_runbook(value: str, runbooks_dir: str) -> Path:
    """A runbook path, or the ID of a runbook in the runbooks directory (what Home shows)."""
    path = Path(value)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in value:
        return path
    from console.runbook.loader import RunbookError, load_runbook

    directory = Path(runbooks_dir)
    for candidate in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        if candidate.stem == value:
            return candidate
        try:
            if load_runbook(candidate).runbook.metadata.id == value:
                return candidate
        except RunbookError:
            continue
    raise CliError(f"{value}: no such runbook file, and no runbook with that ID in {directory}/")


def cmd_run(args: argparse.Namespace) -> int:
    from console.engine import policy as pol
    from console.engine.linemode import Answers, LineDriver
    from console.engine.session import ChangeSession, StartRequest
    from console.journal.store import RecordStore
    from console.review.records import resolve_records_dir

    given = _given_params(args.param, approvals=args.approval)
    policy = _policy(args)
    args.runbook = str(_resolve_runbook(args.runbook, getattr(args, "runbooks_dir", "runbooks")))
    if not args.plain:
        if args.answers:
            raise CliError("--answers drives a change unattended: use it with --plain", EXIT_USAGE)
        return _ui(args, policy, start_runbook=Path(args.runbook), start_params=given,
                   start_context=args.context, start_approvals=_parse_approvals(args.approval))
    answers = Answers.load(Path(args.answers)) if args.answers else None
    data = answers.data if answers else {}
    operator = args.operator or str(data.get("operator") or "") or _user()
    context = args.context or _current_context(args.kubeconfig)
    environment = args.environment or policy.environment_of(context)
    store = RecordStore(resolve_records_dir(args.records_dir, configured=policy.records_dir))
    refusal = None
    if environment is None:
        refusal = _unmapped_context(context, args.kubeconfig, policy)
    elif answers is not None and not pol.is_rehearsal(policy, environment):
        refusal = f"--answers runs a change unattended, which policy allows only on rehearsal environments, not {environment}"
    if refusal is not None:
        # Refused here, before the session's own checks: recorded like the ones the session refuses.
        request = StartRequest(runbook_path=Path(args.runbook), environment=environment or "", context=context, operator=operator)
        _refused(store, policy, request, refusal)
        raise CliError(refusal)
    assert environment is not None  # no environment is a refusal, above
    params = {**{str(k): v for k, v in (data.get("params") or {}).items()}, **given}
    approvals = _parse_approvals(args.approval)
    if answers:
        from console.engine.policy import Approval

        approvals += [Approval(str(a.get("name", "")), str(a.get("role", "")), str(a.get("reference", ""))) for a in data.get("approvals") or []]
    emergency = data.get("emergency") or {}
    # NAME or NAME:ROLE (the role defaults to policy's first emergency approver role).
    approver_name, _, approver_role = (args.emergency_approver or "").partition(":")
    typed = args.confirm_context
    if pol.needs_typed_context(policy, environment) and typed is None:
        sys.stdout.write(f"{environment} is a production environment: type the context name {context!r} to start: ")
        sys.stdout.flush()
        typed = sys.stdin.readline().strip()
    request = StartRequest(
        runbook_path=Path(args.runbook), environment=environment, context=context,
        operator=operator, params=params, approvals=approvals,
        emergency_reason=args.emergency or emergency.get("reason"),
        emergency_approver=approver_name or emergency.get("approver"),
        emergency_approver_role=approver_role or emergency.get("role"),
        typed_context=typed, kubeconfig=args.kubeconfig, lock_break_glass=_lock_break_glass(args),
    )
    from console.engine.admission import ApprovalsPending

    try:
        session = ChangeSession.start(request, store=store, policy=policy)
    except ApprovalsPending as exc:
        session_or_code = _await_approvals(args, store, policy, exc, operator=operator, params=params)
        if isinstance(session_or_code, int):
            return session_or_code
        session = session_or_code
    code = _drive(LineDriver(session, answers=answers), session)
    _sign_closeout(args, store, policy, session.change_id)
    return code


def _await_approvals(args: argparse.Namespace, store: RecordStore, policy: Policy, pending_exc: Any, *, operator: str,
                     params: dict[str, Any]) -> ChangeSession | int:
    """A change waiting for signed approvals: say who may approve and how, then poll its approvals directory until
    they meet policy (or, with --no-wait, leave it for ``opsconsole resume``)."""
    import time

    from console.engine.admission import NotApproved
    from console.engine.session import ChangeSession

    pending = pending_exc.pending
    _out(f"{pending.change_id} is created and waits for signed approvals; nothing has run.")
    for role, count in sorted(pending.required.items()):
        who = ", ".join(pending.holders.get(role, [])) or "nobody"
        _out(f"  needs {count} {role!r} approval{'s' if count > 1 else ''}: may sign: {who}")
    _out(f"  each approver runs:  opsconsole approve {pending.change_id}")
    _out(f"  (or approve --request {pending.change_dir / 'request.json'}; put the approval file in {pending.approvals_dir}/)")
    takeover = _lock_break_glass(args)  # the lock is taken only once the change is approved: the takeover waits too
    resume = f"opsconsole resume {pending.change_id}" + (" --break-glass REASON --break-glass-approver NAME (again: the "
                                                          "change lock is taken once it is approved)" if takeover else "")
    if args.no_wait:
        _out(f"resume once approved:  {resume}")
        return EXIT_OK
    _out("waiting for signatures (ctrl+c to stop; the change stays pending) …")
    sys.stdout.flush()
    shown: set[str] = set()
    while True:
        try:
            session = ChangeSession.resume(pending.change_id, store=store, policy=policy, operator=operator,
                                           params=dict(params), kubeconfig=args.kubeconfig, lock_break_glass=takeover)
            _say_approved(session)
            return session
        except NotApproved as exc:
            if exc.judgement is None or exc.judgement.approved:  # not a matter of waiting: say it and stop
                raise
            for line in exc.judgement.sentences():
                if line not in shown:
                    shown.add(line)
                    _out(f"  {line}")
            sys.stdout.flush()
        try:
            time.sleep(1.0)  # the approvals directory is read again each second; signing takes a person minutes
        except KeyboardInterrupt:
            _out(f"\nstopped waiting; resume once approved: {resume}")
            return EXIT_FAIL  # the change is not done: it stays pending


def _say_approved(session: ChangeSession) -> None:
    """Who approved a change that has just started on signatures."""
    from console.journal import events as ev

    # A change that has just started on its signatures opens with approval.verified, then policy.checked.
    events = session.events
    if len(events) >= 2 and events[-2].type == ev.APPROVAL_VERIFIED:
        for a in events[-2].data["accepted"]:
            _out(f"  {a['principal']} approved as {a['role']} at {a['signed_at']} (key {a['key_fingerprint']}): verified")
        _out(f"{session.change_id} starts.")


def _sign_closeout(args: argparse.Namespace, store: RecordStore, policy: Policy, change_id: str) -> None:
    """When policy names signers, the operator signs the closed change's head hash with their SSH key."""
    from console.engine.signed_start import sign_closeout

    if policy.allowed_signers_path() is None:
        return
    signed, sentence = sign_closeout(store, change_id, policy, key_path=Path(args.key).expanduser() if args.key else None,
                                     who=args.operator or _user())
    if signed:
        _out(sentence)
    elif "not closed" not in sentence:
        _err(f"opsconsole: {sentence}")


def _refused(store: RecordStore, policy: Policy, request: StartRequest, reason: str) -> None:
    """A start refused here, before the session's own checks, is recorded like the ones the session refuses."""
    from console.engine.redact import Redactor
    from console.journal.audit import refuse

    problem = refuse(store, request, request.runbook_path, reason, [], Redactor((), policy.redaction.patterns).redact)
    if problem:
        _err(f"opsconsole: {problem}")


def _drive(driver: LineDriver, session: ChangeSession) -> int:
    try:
        return driver.drive()
    except (EOFError, KeyboardInterrupt) as exc:
        why = "no input left" if isinstance(exc, EOFError) else "interrupted"
        sys.stdout.write(f"\n{why}: the change stays open; carry on with: opsconsole resume {session.change_id}\n")
        session.release()
        return EXIT_FAIL  # the change is not done
    except BaseException:
        session.release()
        raise


def cmd_rehearse(args: argparse.Namespace) -> int:
    """Run a change and then its rollback on a rehearsal environment, unattended: the record is the evidence."""
    import tempfile

    from console.engine.rehearse import RehearsalDriver, has_terraform, rehearsable, rehearsal_copy
    from console.engine.session import ChangeSession, StartRequest
    from console.journal.store import RecordStore
    from console.review.records import resolve_records_dir
    from console.runbook.loader import load_runbook
    from console.runbook.params import ParamError, parse_assignments

    policy = _policy(args)
    args.runbook = str(_resolve_runbook(args.runbook, getattr(args, "runbooks_dir", "runbooks")))
    try:
        given = parse_assignments(args.param)
    except ParamError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    loaded = load_runbook(Path(args.runbook))  # a runbook that does not load is said before the kubeconfig is read
    context = args.context or _current_context(args.kubeconfig)
    environment = policy.environment_of(context)
    if environment is None:
        raise CliError(_unmapped_context(context, args.kubeconfig, policy))
    problem = rehearsable(policy, environment, loaded)
    if problem:
        raise CliError(problem)
    runbook_path = Path(args.runbook)
    if has_terraform(loaded):
        # Terraform runs on a copy with local state; the copy stays while the change may be resumed from it.
        copy_dir = Path(tempfile.mkdtemp(prefix="opsconsole-rehearse-"))
        runbook_path = rehearsal_copy(loaded, copy_dir)
        _out(f"Terraform runs on a copy with local state: {copy_dir}")
    store = RecordStore(resolve_records_dir(args.records_dir, configured=policy.records_dir))
    request = StartRequest(
        runbook_path=runbook_path, environment=environment, context=context, operator=args.operator or _user(),
        params=given, approvals=_parse_approvals(args.approval), kubeconfig=args.kubeconfig,
        description="rehearsal of the change and its rollback (opsconsole rehearse)",
    )
    session = ChangeSession.start(request, store=store, policy=policy)
    return _drive(RehearsalDriver(session), session)


def cmd_resume(args: argparse.Namespace) -> int:
    from console.engine.linemode import Answers, LineDriver
    from console.engine.session import ChangeSession
    from console.journal.store import RecordStore
    from console.review.records import resolve_records_dir

    given = _given_params(args.param)
    policy = _policy(args)
    if not args.plain:
        if args.answers:
            raise CliError("--answers drives a change unattended: use it with --plain", EXIT_USAGE)
        return _ui(args, policy, resume_id=args.change_id)
    answers = Answers.load(Path(args.answers)) if args.answers else None
    store = RecordStore(resolve_records_dir(args.records_dir, configured=policy.records_dir))
    data = answers.data if answers else {}
    if answers is not None:
        # Checked before resuming, which records the interrupted step: a refused resume writes nothing.
        from console.engine import policy as pol
        from console.journal.journal import read_events
        from console.review.summary import summarise

        environment = summarise(read_events(store.journal_path(store.find(args.change_id))).events).environment
        if not pol.is_rehearsal(policy, environment):
            raise CliError(f"--answers runs a change unattended, which policy allows only on rehearsal environments, not {environment}")
    from console.engine.admission import NotApproved

    try:
        session = ChangeSession.resume(
            args.change_id, store=store, policy=policy, operator=args.operator or str(data.get("operator") or "") or _user(),
            params=given, kubeconfig=args.kubeconfig, recover_torn_tail=args.recover_torn_tail,
            lock_break_glass=_lock_break_glass(args),
        )
    except NotApproved as exc:
        if exc.judgement is None or exc.judgement.approved:
            raise
        _err(f"opsconsole: {args.change_id} is not approved, so it does not start:")
        for line in exc.judgement.sentences():
            _err(f"  {line}")
        return EXIT_FAIL
    _say_approved(session)
    code = _drive(LineDriver(session, answers=answers), session)
    _sign_closeout(args, store, policy, session.change_id)
    return code


# -- approvals -------------------------------------------------------------------------------------------------


def cmd_approve(args: argparse.Namespace) -> int:
    """Sign a change's start request with the approver's SSH key, after showing it and asking; an emergency's owed
    approval is checked at once and recorded in its journal (``signature.retro_approval``)."""
    from datetime import UTC, datetime

    from console.engine.signed_start import (
        APPROVALS_DIR,
        REQUEST_FILE,
        Owed,
        RetroError,
        owed_of,
        record_retro_approval,
        recorded_signers,
        write_file,
    )
    from console.governance import request as requests
    from console.governance.allowed_signers import AllowedSigners
    from console.governance.approving import default_key, identity, public_key, request_lines
    from console.governance.envelope import approval_to_bytes
    from console.governance.signatures import load_allowed_signers, sign
    from console.journal import events as ev
    from console.journal.journal import read_events
    from console.journal.store import ChangeLocked

    if bool(args.change_id) == bool(args.request):
        raise CliError("name a change ID or give --request FILE (one of them)", EXIT_USAGE)
    signers: AllowedSigners | None = None
    required: dict[str, int] | None = None
    owed: Owed | None = None  # an emergency's approvals, signed after the fact
    if args.change_id:
        store = _store(args)
        ref = _find(store, args.change_id)
        events = read_events(store.journal_path(ref)).events
        requested = next((e for e in reversed(events) if e.type == ev.APPROVAL_REQUESTED), None)
        owed = owed_of(args.change_id, ref.path, events) if requested is None else None
        if requested is None and owed is None:
            raise CliError(f"{args.change_id} asks for no signed approvals")
    if owed is not None:
        if not owed.missing:
            raise CliError(f"the approvals {args.change_id} owed are on record already")
        source = ref.path / REQUEST_FILE
        try:
            data = owed.request_bytes()
        except RetroError as exc:
            raise CliError(f"{exc}; do not sign it") from None
        signers = recorded_signers(ref.path, owed.data["allowed_signers"])
        required = dict(owed.missing)
    elif args.change_id:
        assert requested is not None
        if any(e.type == ev.APPROVAL_VERIFIED for e in events):
            raise CliError(f"{args.change_id} has started already; its approvals are on record")
        source = ref.path / REQUEST_FILE
        data = source.read_bytes()
        if requests.digest(data) != requested.data["request"]["sha256"]:
            raise CliError(f"{source} is not the request {args.change_id} recorded (its SHA-256 differs); do not sign it")
        signers = recorded_signers(ref.path, requested.data["allowed_signers"])
        required = dict(requested.data["required"])
    else:
        source = Path(args.request)
        data = source.read_bytes()
        if args.allowed_signers:
            signers = load_allowed_signers(args.allowed_signers)
        elif getattr(args, "config", None) or Path("opsconsole.toml").exists():
            configured = _policy(args).allowed_signers_path()
            signers = load_allowed_signers(configured) if configured else None
    request = requests.from_bytes(data)
    key_path = Path(args.key).expanduser() if args.key else default_key()
    if key_path is None:
        raise CliError("no SSH key found in ~/.ssh (id_ed25519, id_ecdsa, id_rsa): give one with --key")
    key = public_key(key_path)
    principal, role = identity(key=key, signers=signers, principal=args.principal, role=args.role, required=required)
    for line in request_lines(request, requests.digest(data), required):
        _out(line)
    if owed is not None:
        _out(f"After the fact  {args.change_id} was an emergency: it ran without waiting, and owes these approvals")
    _out()
    if not args.yes:
        sys.stdout.write(f"Sign this request as {principal} ({role}) with {key_path} ({key.fingerprint})? [y/N] ")
        sys.stdout.flush()
        answer = sys.stdin.readline()
        if answer.strip().lower() not in ("y", "yes"):
            _out(("" if answer.endswith("\n") else "\n") + "not signed")
            return EXIT_FAIL
    approval = sign(data, key_path=key_path, principal=principal, role=role)
    if owed is not None:
        try:
            recorded = record_retro_approval(store, args.change_id, approval, who=principal, now=datetime.now(UTC))
        except RetroError as exc:  # refused: nothing is written, and the approval is still owed
            raise CliError(str(exc)) from None
        except ChangeLocked as exc:
            raise CliError(f"not signed: {exc}, so the signature cannot be recorded now; approve again once that "
                           "console lets go of the change") from None
        _out(f"signed as {principal} ({role}) after the fact: {recorded['file']['path']}, recorded as "
             f"{ev.SIGNATURE_RETRO_APPROVAL}")
        return EXIT_OK
    if args.change_id:
        out = ref.path / APPROVALS_DIR / f"{principal}.json"
    else:
        out = Path(args.out) if args.out else source.with_name(f"{source.stem}.{principal}.approval.json")
    write_file(out, approval_to_bytes(approval))
    _out(f"signed as {principal} ({role}): {out}")
    return EXIT_OK


def _lock_break_glass(args: argparse.Namespace) -> tuple[str, str] | None:
    """``--break-glass REASON`` with its approver: taking the cluster's change lock from another console."""
    reason = (getattr(args, "break_glass", None) or "").strip()
    approver = (getattr(args, "break_glass_approver", None) or "").strip()
    if not reason:
        if approver:
            raise CliError("--break-glass-approver goes with --break-glass REASON", EXIT_USAGE)
        return None
    if len(reason) < 5 or not approver:
        raise CliError("--break-glass takes over another console's change lock: give a reason (5 characters or more) "
                       "and --break-glass-approver NAME", EXIT_USAGE)
    return reason, approver


def cmd_locks(args: argparse.Namespace) -> int:
    """``opsconsole locks``: the change locks held on every cluster of the kubeconfig, as a table."""
    from console.cluster.lease_table import lock_rows, locks_table

    rows, problems = lock_rows(args.kubeconfig, args.context)
    if args.json:
        for row in rows:
            _out(json.dumps(row, sort_keys=True))
    elif rows:
        for line in locks_table(rows):
            _out(line)
    else:
        _out("No change locks held." if not problems else "No change locks found on the clusters that answered.")
    for problem in problems:
        _err(f"opsconsole: {problem}")
    return EXIT_FAIL if problems else EXIT_OK


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


# -- the UI ----------------------------------------------------------------------------------------------------


def _ui(args: argparse.Namespace, policy: Policy, **kwargs: Any) -> int:
    from console.review.records import resolve_records_dir
    from screens.app import run_app  # the UI is imported only when it is wanted

    return run_app(
        records_dir=resolve_records_dir(args.records_dir, configured=policy.records_dir),
        runbooks_dir=Path(getattr(args, "runbooks_dir", "runbooks")), policy=policy,
        kubeconfig=getattr(args, "kubeconfig", None), operator=getattr(args, "operator", None) or _user(),
        cluster_panels=True, **kwargs,
    )


def cmd_ui(args: argparse.Namespace) -> int:
    return _ui(args, _policy(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from console.demo import DemoError, RehearsalProcess

    policy = _policy(args)
    try:
        cluster = RehearsalProcess(scenario=args.scenario, speed=args.speed)
    except DemoError as exc:
        raise CliError(str(exc)) from None
    try:
        args.kubeconfig = str(cluster.kubeconfig)
        return _ui(args, policy)
    finally:
        cluster.close()


def _redaction(args: argparse.Namespace) -> Callable[[str], str]:
    """What a reviewer's text goes through before the journal: the built-in rules and policy's own patterns."""
    from console.engine.redact import Redactor

    return Redactor((), _policy(args).redaction.patterns).redact


def _start_review(records_dir: Path) -> int:
    from screens.records import run_review  # the UI is imported only when it is wanted

    return run_review(records_dir=records_dir)


def _start_follow(change_dir: Path, change_id: str, exit_on_close: bool) -> int:
    """``opsconsole follow``'s full screen, read-only."""
    from screens.follow import run_follow  # the UI is imported only when it is wanted

    return run_follow(change_dir=change_dir, change_id=change_id, exit_on_close=exit_on_close)


def cmd_serve(args: argparse.Namespace) -> int:
    from console.review.records import resolve_records_dir
    from console.serve import serve

    def out(line: str) -> None:
        _out(line)
        sys.stdout.flush()  # the URL is read the moment it is printed, often through a pipe

    access_log = Path(args.access_log) if args.access_log else None
    return serve(records_dir=resolve_records_dir(args.records_dir), host=args.host, port=args.port,
                 allow_remote=args.allow_remote, access_log=access_log, out=out, err=_err, max_sessions=args.max_sessions)


def _start_watch(*, kube: KubeAccess, policy: Policy, context: str, namespace: str | None, handle: WatchHandle) -> int:
    """``opsconsole watch``'s dashboard, on the watch the command has already started."""
    from screens.cluster import run_watch  # the UI is imported only when it is wanted

    return run_watch(kube=kube, policy=policy, context=context, namespace=namespace, handle=handle)


# -- parser ----------------------------------------------------------------------------------------------------


def _optional_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, chosen: str | None) -> None:
    """Commands whose modules may be absent from a slimmed install register themselves when present.

    ``sim``'s arguments come from the rehearsal cluster's modules (a few hundredths of a second to import): they are
    added only when ``sim`` is the command given, so every other command starts without loading them.
    """
    import importlib.util

    if importlib.util.find_spec("kubesim") is None:
        return
    sim = sub.add_parser("sim", help="run the rehearsal cluster (a local Kubernetes API) until interrupted")
    if chosen != "sim":
        return
    from kubesim import command as sim_command

    sim_command.add_arguments(sim)
    sim.set_defaults(func=sim_command.run)


def build_parser(chosen: str | None = "sim") -> argparse.ArgumentParser:
    """Every command's parser; ``chosen`` (the command given, when known) may leave out what only another needs."""
    parser = argparse.ArgumentParser(
        prog="opsconsole",
        description="Terminal operations console: runbooks stepped screen by screen, the cluster live, "
        "and an append-only change record.",
    )
    parser.add_argument("--version", action="version", version=f"opsconsole {__version__}")
    parser.add_argument("--records-dir", metavar="DIR", help="record store (default: $OPSCONSOLE_RECORDS or ./records)")
    parser.add_argument("--runbooks-dir", metavar="DIR", default="runbooks", help="runbooks shown at home (default: ./runbooks)")
    parser.set_defaults(func=cmd_ui)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    lint = sub.add_parser("lint", help="check runbooks against the format and the authoring rules")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="runbook files or directories of them")
    lint.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary line")
    lint.set_defaults(func=cmd_lint)

    schema = sub.add_parser("schema", help="print the runbook JSON Schema (for editors); --answers: the answers file's")
    schema.add_argument("--answers", action="store_true", help="the JSON Schema of an answers file (run --answers FILE)")
    schema.set_defaults(func=cmd_schema)

    records = sub.add_parser("records", help="list, show, verify and render change records")
    rsub = records.add_subparsers(dest="records_cmd", metavar="ACTION", required=True)
    rl = rsub.add_parser("list", help="a table of every change in the store (or of refused starts)")
    rl.add_argument("--json", action="store_true", help="one JSON object per change (or refusal)")
    rl.add_argument("--refused", action="store_true", help="starts refused before they began, newest last, from refused/*.jsonl")
    rl.set_defaults(func=cmd_records_list)
    rs = rsub.add_parser("show", help="print a change's record, rendered from its journal")
    rs.add_argument("change_id", metavar="ID")
    rs.set_defaults(func=cmd_records_show)
    rv = rsub.add_parser("verify", help="check hash chains and output files (all changes and refused-start logs when no ID is given)")
    rv.add_argument("change_ids", nargs="*", metavar="ID")
    rv.add_argument("--head", metavar="HASH", help="the hash kept elsewhere at close-out: the chain must pass through "
                    "it, and only addenda and signatures may follow it")
    rv.set_defaults(func=cmd_records_verify)
    rr = rsub.add_parser("render", help="regenerate record.md from the journal")
    rr.add_argument("change_id", metavar="ID")
    rr.set_defaults(func=cmd_records_render)
    rsy = rsub.add_parser("sync", help="share the store through git: commit closed changes, pull and push, claim team IDs")
    rsy.add_argument("--remote", metavar="URL", help="the git remote to share with (kept in the store's git config)")
    rsy.set_defaults(func=cmd_records_sync)
    for p in (rl, rs, rv, rr, rsy):
        p.add_argument("--records-dir", metavar="DIR", default=argparse.SUPPRESS, help="record store")
    from console.review.review_cli import add_review_commands

    add_review_commands(sub, rsub, start_review=_start_review, redaction=_redaction)
    from console.review.follow_cli import add_follow_command

    add_follow_command(sub, start_follow=_start_follow)
    serve = sub.add_parser("serve", help="review and follow changes read-only in a browser, behind a token printed at start")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument("--allow-remote", action="store_true", help="allow a --host other than a loopback address")
    serve.add_argument("--access-log", metavar="FILE", help="append a JSON line per view each browser session shows")
    serve.add_argument("--max-sessions", type=int, default=8, metavar="N",
                       help="browser sessions open at once, each an app process (default: 8); more are refused with 503")
    serve.add_argument("--records-dir", metavar="DIR", default=argparse.SUPPRESS, help="record store")
    serve.set_defaults(func=cmd_serve)

    answers_epilog = ("an answers file (--answers FILE, YAML; its JSON Schema: opsconsole schema --answers):\n\n"
                      + "\n".join("  " + line for line in ANSWERS_HELP.splitlines()))
    run = sub.add_parser("run", help="start a change from a runbook (line mode with --plain)", epilog=answers_epilog,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("runbook", metavar="RUNBOOK", help="a runbook file, or the ID of one in --runbooks-dir (as Home shows it)")
    run.add_argument("--environment", metavar="ENV", help="the environment the change is for (default: the context's, by policy)")
    resume = sub.add_parser("resume", help="carry on with a change that was interrupted", epilog=answers_epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    resume.add_argument("change_id", metavar="ID")
    resume.add_argument("--recover-torn-tail", action="store_true", help="record a torn last journal line (power cut) and go on")
    for p in (run, resume):
        p.add_argument("--plain", action="store_true", help="line mode: plain prompts on stdin/stdout, no full-screen UI")
        p.add_argument("--context", metavar="C", help="kube context (default: the kubeconfig's current context)")
        p.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
        p.add_argument("--param", action="append", default=[], metavar="K=V", help="a runbook parameter (repeatable)")
        p.add_argument("--answers", metavar="FILE", help="answer every prompt from a YAML file (rehearsal environments only)")
        p.add_argument("--operator", metavar="NAME", help="who drives the change (default: the login name)")
        p.add_argument("--config", metavar="PATH", help="policy file (default: ./opsconsole.toml, then the user config dir)")
        p.add_argument("--records-dir", metavar="DIR", default=argparse.SUPPRESS, help="record store")
    run.add_argument("--approval", action="append", default=[], metavar="NAME:ROLE[:REF]", help="an approval (repeatable)")
    run.add_argument("--emergency", metavar="REASON", help="an emergency change (break-glass): windows and limits are overridden, and recorded")
    run.add_argument("--emergency-approver", metavar="NAME[:ROLE]",
                     help="who approved the emergency, verbally (ROLE: one of policy's [emergency] approver_roles)")
    for p in (run, resume):
        p.add_argument("--break-glass", metavar="REASON",
                       help="take over the cluster's change lock held live by another console (recorded in both changes)")
        p.add_argument("--break-glass-approver", metavar="NAME", help="who approved taking the lock over")
    run.add_argument("--confirm-context", metavar="CONTEXT", help="the context name typed in advance (production starts need it)")
    run.add_argument("--no-wait", action="store_true", help="a change that needs signed approvals: create it pending and exit")
    for p in (run, resume):
        p.add_argument("--key", metavar="PATH", help="your SSH key, to sign the close-out when policy names signers "
                                                     "(default: ~/.ssh/id_ed25519)")
    run.set_defaults(func=cmd_run)
    resume.set_defaults(func=cmd_resume)
    rehearse = sub.add_parser("rehearse", help="run a change and then its rollback on a rehearsal environment, unattended "
                              "(the evidence a high-risk production change needs)")
    rehearse.add_argument("runbook", metavar="RUNBOOK", help="a runbook file, or the ID of one in --runbooks-dir")
    rehearse.add_argument("--context", metavar="C", help="a rehearsal environment's kube context (default: the current one)")
    rehearse.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    rehearse.add_argument("--param", action="append", default=[], metavar="K=V", help="a runbook parameter (repeatable)")
    rehearse.add_argument("--approval", action="append", default=[], metavar="NAME:ROLE[:REF]", help="an approval (repeatable)")
    rehearse.add_argument("--operator", metavar="NAME", help="who runs the rehearsal (default: the login name)")
    rehearse.add_argument("--config", metavar="PATH", help="policy file")
    rehearse.add_argument("--records-dir", metavar="DIR", default=argparse.SUPPRESS, help="record store")
    rehearse.set_defaults(func=cmd_rehearse)

    approve = sub.add_parser("approve", help="sign a change's start request with your SSH key (no cluster needed)")
    approve.add_argument("change_id", metavar="ID", nargs="?", help="the change, read from the record store")
    approve.add_argument("--request", metavar="FILE", help="a start request file (sent by chat) instead of a change ID")
    approve.add_argument("--out", metavar="FILE", help="where the approval goes with --request (default: beside FILE)")
    approve.add_argument("--key", metavar="PATH", help="your SSH key (default: ~/.ssh/id_ed25519, then id_ecdsa, id_rsa)")
    approve.add_argument("--as", dest="principal", metavar="NAME", help="who you are (default: the key's owner in the allowed-signers file)")
    approve.add_argument("--role", metavar="ROLE", help="the role you approve as (default: the one required role your key holds)")
    approve.add_argument("--allowed-signers", metavar="FILE", help="with --request: the allowed-signers file naming your key")
    approve.add_argument("--config", metavar="PATH", help="policy file (its allowed-signers file names your key)")
    approve.add_argument("--yes", action="store_true", help="sign without asking (the request is still shown)")
    approve.add_argument("--records-dir", metavar="DIR", default=argparse.SUPPRESS, help="record store")
    approve.set_defaults(func=cmd_approve)

    demo = sub.add_parser("demo", help="start the rehearsal cluster in the background and open the console on it")
    demo.add_argument("--scenario", default="default", help="rehearsal scenario (default: default)")
    demo.add_argument("--speed", type=float, default=4.0, help="rehearsal clock speed (default 4x, so rollouts are quick)")
    demo.add_argument("--config", metavar="PATH", help="policy file")
    demo.add_argument("--operator", metavar="NAME", help="who drives changes (default: the login name)")
    demo.add_argument("--records-dir", metavar="DIR", default=argparse.SUPPRESS, help="record store")
    demo.set_defaults(func=cmd_demo)

    locks = sub.add_parser("locks", help="the change locks (Leases) held on the clusters in the kubeconfig")
    locks.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    locks.add_argument("--context", action="append", metavar="C", help="only this context (repeatable; default: every context)")
    locks.add_argument("--json", action="store_true", help="one JSON object per lock")
    locks.set_defaults(func=cmd_locks)

    from console.cluster.dashboard_cli import add_watch_command

    add_watch_command(sub, start_watch=_start_watch)
    _optional_commands(sub, chosen=chosen)
    return parser


def _friendly(exc: BaseException) -> str | None:
    """The one-sentence form of errors an operator can fix (every OpsConsoleError, and OS errors); None for a bug."""
    if isinstance(exc, OpsConsoleError):
        from console.runbook.loader import RunbookError  # only on this path: the loader brings ruamel and pydantic

        if isinstance(exc, RunbookError):
            return "the runbook is invalid:\n" + str(exc)  # one line per problem, each saying where
        return str(exc)
    if isinstance(exc, PermissionError):
        return f"{exc.filename}: permission denied"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file or directory"
    if isinstance(exc, OSError):
        return f"{exc.filename or 'I/O'}: {exc.strerror or exc}"
    return None


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of every command, or for ``watch`` one with just that command, registered by the same call.

    Building every command's parser imports the review, journal and rehearsal-cluster modules (about 0.1 s);
    ``opsconsole watch`` is the command whose start-up is timed to its first frame (benchmarks/panels.py),
    so it starts listing without them. Its help, errors and arguments are the same either way.
    """
    if argv[:1] != ["watch"]:
        # Options may come before the command (--records-dir DIR sim): any "sim" in argv gets sim's arguments.
        return build_parser("sim" if "sim" in argv else None)
    from console.cluster.dashboard_cli import add_watch_command

    parser = argparse.ArgumentParser(prog="opsconsole")
    add_watch_command(parser.add_subparsers(dest="command", metavar="COMMAND"), start_watch=_start_watch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser_for(argv)
    args = parser.parse_args(argv)
    if not hasattr(args, "records_dir"):
        args.records_dir = None
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        _err("opsconsole: interrupted")
        return EXIT_FAIL
    except Exception as exc:  # every fixable error becomes one sentence; a bug keeps its traceback
        message = _friendly(exc)
        if message is None:
            raise
        _err(f"opsconsole: {message}")
        return getattr(exc, "code", EXIT_FAIL) if isinstance(exc, CliError) else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
