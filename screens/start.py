"""Start a change: parameters, environment and context with the guard's verdict, approvals, windows, emergency.

Nothing is written until the operator presses ctrl+s: the verdicts are computed from the form as it is typed
(the same functions the engine uses), and only ``ChangeSession.start`` creates the change and shows its ID.

Where policy wants roles signed, the approvals section says up front who may sign each; ctrl+s then creates the
change pending and the form waits live: it reads the change's approvals directory again whenever a file arrives,
shows who has signed (and why a signature does not count), and opens the change once the signatures meet policy.

A start refused because another console holds the cluster's change lock live opens the form's "Change lock"
section (hidden until then): the refusal, and a takeover reason with who approved it. The next ctrl+s with both
given takes the lock over (break-glass, recorded as the command line's ``--break-glass`` is). What is typed there
serves one start: it is cleared once a start is answered otherwise, and when the kube context changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.markup import escape
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Checkbox, Header, Input, Select, Static
from textual.worker import Worker, WorkerState

from console.config import Policy
from console.engine import policy as pol
from console.engine.admission import ApprovalsPending, NotApproved
from console.engine.change_lock import LockHeldElsewhere, load_client_library, load_lock_modules
from console.engine.kubecontext import KubeconfigError, contexts, kubeconfig_paths, load_merged
from console.engine.session import ChangeSession, PolicyRefused, SessionError, StartRequest, evaluate_policy
from console.engine.signed_start import Pending, holders_of, policy_signers
from console.governance.allowed_signers import AllowedSignersError
from console.journal.store import RecordStore
from console.runbook.durations import format_duration
from console.runbook.loader import LoadedRunbook
from console.runbook.params import ParamError, resolve
from screens.widgets.form_field import FieldLabel, FormSelect, field_input, mark_focused
from screens.widgets.key_bar import KeyBar

# Verdicts are worked out this long after the last change to the form, not on every key of a burst.
VERDICT_DELAY_S = 0.15
# A waiting change's approvals directory is listed this often; the signatures are checked only when it changed.
APPROVALS_POLL_S = 0.5
# As the command line's --break-glass: a takeover of another console's lock needs a reason this long and an approver.
TAKEOVER_REASON_MIN = 5
# How the form's refusal says the lock can be taken over (the command line names its flag instead).
FORM_TAKEOVER = "take it over: give a reason and who approved the takeover below, then start again (ctrl+s)"
KEYS = [("tab", "next field"), ("shift+tab", "previous"), ("^s", "start the change"), ("esc", "back to Home"),
        ("f1", "keys"), ("^q", "quit")]


def _id(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def lock_takeover(reason: str, approver: str) -> tuple[str, str] | None:
    """The takeover the form's Change lock fields ask for: (reason, approver), None when both are empty, or a
    ValueError saying in one sentence what is missing (the command line's rules: 5 characters of reason, an approver)."""
    reason, approver = reason.strip(), approver.strip()
    if not reason and not approver:
        return None
    if len(reason) < TAKEOVER_REASON_MIN or not approver:
        raise ValueError(f"to take over the change lock, give a reason ({TAKEOVER_REASON_MIN} characters or more) "
                         "and who approved the takeover")
    return reason, approver


def _row(label: str, field: Widget, *, row_id: str | None = None) -> ComposeResult:
    """One field on its own line, its label (marked while it has the focus) to the left."""
    with Horizontal(classes="form-row", id=row_id):
        yield FieldLabel(label, field=field.id or "")
        yield field


class StartScreen(Screen):
    """The form that starts a change from one runbook."""

    BINDINGS = [
        Binding("ctrl+s", "start", "Start the change", id="start.go", tooltip="Check everything and create the change"),
        Binding("escape", "back", "Back", id="start.back", tooltip="Back to Home; nothing is written"),
    ]

    def __init__(self, loaded: LoadedRunbook, *, store: RecordStore, policy: Policy, kubeconfig: str | None,
                 operator: str, clock: Callable[[], datetime], on_started: Callable[[ChangeSession], None],
                 params: dict[str, str] | None = None, context: str | None = None,
                 approvals: list[pol.Approval] | None = None) -> None:
        super().__init__()
        self.prefill = params or {}
        self.approvals = list(approvals or [])  # --approval of `opsconsole run`, prefilled per role
        self.asked_context = context
        self.loaded = loaded
        self.store = store
        self.policy = policy
        self.kubeconfig = kubeconfig
        self.operator = operator
        self.clock = clock
        self.on_started = on_started
        try:
            config = load_merged(kubeconfig_paths(kubeconfig))
            self.contexts = contexts(config)
            self.current_context = config.get("current-context")
        except KubeconfigError as exc:
            self.contexts, self.current_context = [], None
            self.kube_error = str(exc)
        else:
            self.kube_error = ""
        self._verdict_timer: Timer | None = None
        self._starting = False
        self.pending: Pending | None = None  # the change created and waiting for signatures
        self._seen_approvals: tuple[tuple[str, float], ...] | None = None
        self._poll_timer: Timer | None = None
        self._pending_request: StartRequest | None = None
        self._lock_context: str | None = None  # the context whose lock a refusal offered to take over

    def compose(self) -> ComposeResult:
        rb = self.loaded.runbook
        md = rb.metadata
        yield Header()
        with VerticalScroll(id="start-form", can_focus=False):
            yield Static(Text.assemble((md.title, "bold"), f"  ·  {md.component} {md.from_version} → {md.to_version}  ·  risk ",
                                       (md.risk, "bold red" if md.risk in ("high", "critical") else "bold")), id="start-title")
            yield Static(rb.why.strip(), id="start-why")
            yield Static("Parameters", classes="section-title")
            for name, p in rb.params.items():
                shown = self.prefill.get(name, "" if p.default is None or p.secret else str(p.default))
                # A duration parameter's bounds are shown where it is typed; the verdicts refuse a value outside them.
                bounds = "".join(f", {word} {format_duration(v)}" for word, v in (("at least", p.min), ("at most", p.max)) if v is not None)
                yield from _row(f"{name} ({p.type}{bounds}{', secret' if p.secret else ''})",
                                field_input(value=str(shown), password=p.secret, placeholder=p.description or name,
                                            id=f"param-{_id(name)}"))
            yield Static("Where", classes="section-title")
            envs = [e for e in md.environments if e in self.policy.environments] or list(md.environments)
            wanted = self.asked_context or self.current_context
            default_ctx = wanted if wanted in self.contexts else (self.contexts[0] if self.contexts else None)
            default_env = self.policy.environment_of(default_ctx) if default_ctx else None
            yield from _row("environment", FormSelect([(e, e) for e in envs], value=default_env if default_env in envs else envs[0],
                                                      id="start-env"))
            if self.contexts:
                yield from _row("kube context", FormSelect([(c, c) for c in self.contexts], value=default_ctx, id="start-context"))
            else:
                with Horizontal(classes="form-row"):
                    yield FieldLabel("kube context", field="start-context-missing")
                    yield Static(Text(self.kube_error or "no contexts", style="bold red"), id="start-context-missing")
            yield from _row("type the context", field_input(placeholder="production: type the context name to start",
                                                            id="start-typed-context"), row_id="typed-context-row")
            yield from _row("operator", field_input(value=self.operator, id="start-operator"))
            yield Static("Approvals", classes="section-title")
            roles = self.policy.required_roles(md.risk)
            if not roles:
                yield Static(f"A {md.risk}-risk change needs no approval beyond the operator.")
            given = {a.role: a for a in self.approvals}
            for role in roles:
                prefilled = given.get(role)
                yield from _row(f"{role}: name", field_input(value=prefilled.name if prefilled else "", placeholder="who approved",
                                                             id=f"appr-name-{_id(role)}"), row_id=f"appr-row-{_id(role)}")
                yield from _row(f"{role}: ticket", field_input(value=prefilled.reference if prefilled else "",
                                                               placeholder="reference (ticket)", id=f"appr-ref-{_id(role)}"),
                                row_id=f"appr-refrow-{_id(role)}")
            yield Static(id="start-signed")
            status = Static(id="start-approvals-status")
            status.display = False  # shown once a change waits for its signatures
            yield status
            unused = [a for a in self.approvals if a.role not in roles]
            if unused:
                yield Static(Text("Not asked for by this change's risk, so not recorded: " + ", ".join(
                    f"{a.name} ({a.role})" for a in unused), style="yellow"), id="start-unused-approvals")
            yield Static("Emergency (break-glass)", classes="section-title")
            yield from _row("emergency", Checkbox("emergency change", id="start-emergency", compact=True))
            yield from _row("emergency: reason", field_input(placeholder="why it cannot wait", id="start-emergency-reason"))
            yield from _row("emergency: approved by", field_input(placeholder="who approved the break-glass",
                                                                  id="start-emergency-approver"))
            yield Static("Policy", classes="section-title")
            yield Static(id="start-verdicts")
            # Hidden (opsconsole.tcss) until a start is refused because another console holds the change lock live.
            with Vertical(id="start-lock"):
                yield Static("Change lock", classes="section-title")
                yield Static(id="start-lock-held")
                yield from _row("takeover: reason", field_input(placeholder="why the lock cannot wait for its holder",
                                                                id="start-lock-reason"))
                yield from _row("takeover: approved by", field_input(placeholder="who approved taking it over",
                                                                     id="start-lock-approver"))
            yield Static(id="start-error")
        yield KeyBar(id="start-keys")

    def on_mount(self) -> None:
        self.title = "Start a change"
        self._preload()
        self.query_one("#start-keys", KeyBar).show(KEYS)
        self._update_verdicts()
        self._focus_first()

    def _focus_first(self) -> None:
        # The first field has the focus at once, so what is typed first lands in it (not on the form).
        first = next((w for w in self.query("#start-form Input, #start-form Select") if w.focusable), None)
        if first is not None:
            first.focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        mark_focused(self, event.widget)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        mark_focused(self, self.focused)

    @on(Input.Changed)
    def _typed(self) -> None:
        # A burst of keys restarts the delay: one redraw of the verdicts when the typing pauses.
        if self._verdict_timer is not None:
            self._verdict_timer.stop()
        self._verdict_timer = self.set_timer(VERDICT_DELAY_S, self._update_verdicts)

    @on(Select.Changed, "#start-context")
    def _context_chosen(self) -> None:
        # A takeover approved for one cluster is not approved for another: a new context drops it.
        if self._lock_context is not None and self._value("#start-context") != self._lock_context:
            was = self._lock_context
            self._close_takeover()
            self.query_one("#start-error", Static).update(Text(
                f"The change lock takeover was for context {was}: cleared with the change of context.", style="yellow"))

    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _chosen(self) -> None:
        if self._verdict_timer is not None:
            self._verdict_timer.stop()
        self._update_verdicts()

    def _value(self, selector: str) -> str:
        try:
            widget = self.query_one(selector)
        except NoMatches:  # the widget is absent (no contexts): an empty answer
            return ""
        value = getattr(widget, "value", "")
        return "" if value is None or value == Select.BLANK else str(value)

    def request(self) -> StartRequest:
        rb = self.loaded.runbook
        params = {}
        for name in rb.params:
            value = self._value(f"#param-{_id(name)}")
            if value != "":
                params[name] = value
        approvals = []
        for role in self.policy.required_roles(rb.metadata.risk):
            name = self._value(f"#appr-name-{_id(role)}").strip()
            if name:
                approvals.append(pol.Approval(name, role, self._value(f"#appr-ref-{_id(role)}").strip()))
        emergency = self.query_one("#start-emergency", Checkbox).value
        # NAME, or NAME:ROLE when policy allows more than one emergency approver role.
        approver, _, approver_role = self._value("#start-emergency-approver").strip().partition(":")
        return StartRequest(
            runbook_path=self.loaded.path, environment=self._value("#start-env"), context=self._value("#start-context"),
            operator=self._value("#start-operator").strip() or self.operator, params=params, approvals=approvals,
            emergency_reason=self._value("#start-emergency-reason").strip() if emergency else None,
            emergency_approver=approver.strip() if emergency else None,
            emergency_approver_role=(approver_role.strip() or None) if emergency else None,
            typed_context=self._value("#start-typed-context").strip() or None, kubeconfig=self.kubeconfig,
            loaded=self.loaded,  # parsed when the form opened; the start re-reads the file if it changed since
            lock_break_glass=self._takeover(),
        )

    def _takeover(self) -> tuple[str, str] | None:
        """The Change lock fields' takeover, when the section is open and both are given as they must be."""
        if self._lock_context is None:
            return None
        try:
            return lock_takeover(self._value("#start-lock-reason"), self._value("#start-lock-approver"))
        except ValueError:
            return None  # incomplete: action_start says so before anything starts

    def _update_verdicts(self) -> None:
        self._verdict_timer = None
        req = self.request()
        production = pol.needs_typed_context(self.policy, req.environment)
        self.query_one("#typed-context-row").display = production
        text = Text()
        try:
            resolve(self.loaded.runbook, req.params)
            text.append("✓ parameters: valid\n", style="green")
        except ParamError as exc:
            text.append(f"✗ parameters: {exc}\n", style="bold red")
        for v in evaluate_policy(req, self.loaded, self.policy, self.store, self.clock()):
            mark, style = ("✓", "green") if v.ok else (("!", "bold yellow") if v.overridable and req.emergency_reason else ("✗", "bold red"))
            text.append(f"{mark} {v.name}: {v.message}\n", style=style)
        self.query_one("#start-verdicts", Static).update(text)
        if self.pending is None:
            self._show_signers(req)

    def _show_signers(self, req: StartRequest) -> None:
        """Before the start: the roles policy wants signed for this environment and who may sign each."""
        signed = self.policy.signed_roles(req.environment, self.loaded.runbook.metadata.risk)
        for role in self.policy.required_roles(self.loaded.runbook.metadata.risk):
            for row in (f"#appr-row-{_id(role)}", f"#appr-refrow-{_id(role)}"):
                # A typed name does not count for a role policy wants signed: its fields are not offered.
                self.query_one(row).display = role not in signed
        text = Text()
        if signed:
            try:
                holders = holders_of(policy_signers(self.policy), signed, req.operator, self.clock())
            except AllowedSignersError as exc:
                holders = {}
                text.append(f"{exc}\n", style="bold red")
            text.append("Signed approvals (SSH keys; opsconsole approve):\n", style="bold")
            for role, count in sorted(signed.items()):
                who = ", ".join(holders.get(role, [])) or "nobody"
                style = "" if len(holders.get(role, [])) >= count else "bold red"
                text.append(f"  {role}: {count} of {who} may sign\n", style=style)
        signers = self.query_one("#start-signed", Static)
        signers.update(text)
        signers.display = bool(signed)  # takes no line on a form that asks for no signature

    @work(thread=True, exclusive=True, group="preload", exit_on_error=False)
    def _preload(self) -> None:
        """While the form is filled in, what ctrl+s would otherwise wait for: the modules the start checks the change
        lock with, the step screen's (its Markdown pulls in markdown-it: some 60-120 ms of imports on the app's
        thread between the change opening and its step screen), and the kubernetes client where plain HTTP cannot
        reach the cluster."""
        load_lock_modules()
        import screens.step  # noqa: F401

        load_client_library()  # last: only a context plain HTTP cannot serve needs it

    def action_start(self) -> None:
        if self._starting:
            return
        if self._lock_context is not None:
            try:
                lock_takeover(self._value("#start-lock-reason"), self._value("#start-lock-approver"))
            except ValueError as exc:
                self.query_one("#start-error", Static).update(Text(f"Not started: {exc}.", style="bold red"))
                return
        self._starting = True
        # The start reads the runbook again, checks policy, claims the ID and fsyncs the journal: a worker's job,
        # so the form says at once that it is under way.
        self.query_one("#start-error", Static).update(
            Text("Starting: checking the policy again, claiming the change ID, writing the journal …", style="bold yellow"))
        self._start_worker(self.request())

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def _start_worker(self, request: StartRequest) -> None:
        try:
            session = ChangeSession.start(request, store=self.store, policy=self.policy, clock=self.clock)
        except ApprovalsPending as exc:
            self.app.call_from_thread(self._waiting, exc.pending, request)
            return
        except LockHeldElsewhere as exc:
            self.app.call_from_thread(self._lock_held, exc, request)
            return
        except (PolicyRefused, SessionError, ParamError) as exc:
            self.app.call_from_thread(self._refused, f"Not started: {exc}")
            return
        self.app.call_from_thread(self._started, session)

    def _waiting(self, pending: Pending, request: StartRequest) -> None:
        """The change exists, pending: say how to approve it and watch its approvals directory."""
        self.pending = pending
        self._pending_request = request
        for field in self.query("#start-lock Input"):
            field.disabled = True  # a takeover given is the one the change uses once signed: no longer to be edited
        lines = Text()
        lines.append(f"{pending.change_id} waits for signed approvals; nothing has run.\n", style="bold yellow")
        for role, count in sorted(pending.required.items()):
            lines.append(f"  {role}: {count} of {', '.join(pending.holders.get(role, [])) or 'nobody'} may sign\n")
        lines.append(f"Each approver runs: opsconsole approve {pending.change_id}\n", style="bold")
        self.query_one("#start-signed", Static).update(lines)
        self.query_one("#start-signed", Static).display = True
        self.query_one("#start-error", Static).update(Text(f"Waiting for signatures in {pending.approvals_dir}/ …",
                                                           style="bold yellow"))
        self._poll_timer = self.set_interval(APPROVALS_POLL_S, self._poll_approvals)
        self._poll_approvals()

    def _approval_files(self) -> tuple[tuple[str, float], ...]:
        assert self.pending is not None
        directory = self.pending.approvals_dir
        try:
            return tuple(sorted((p.name, p.stat().st_mtime) for p in directory.glob("*.json")))
        except OSError:
            return ()

    def _poll_approvals(self) -> None:
        if self.pending is None or self._pending_request is None:
            return
        files = self._approval_files()
        if files == self._seen_approvals:
            return  # nothing arrived: the signatures were judged already
        self._seen_approvals = files
        self._check_worker(self.pending, self._pending_request)

    @work(thread=True, exclusive=True, group="approvals", exit_on_error=False)
    def _check_worker(self, pending: Pending, request: StartRequest) -> None:
        try:
            # A change waiting for signatures takes the lock when they arrive: the takeover given at start holds then.
            session = ChangeSession.resume(pending.change_id, store=self.store, policy=self.policy, operator=request.operator,
                                           params=request.params, kubeconfig=self.kubeconfig, clock=self.clock,
                                           lock_break_glass=request.lock_break_glass)
        except NotApproved as exc:
            waiting = exc.judgement is not None and not exc.judgement.approved
            lines = exc.judgement.sentences() if waiting and exc.judgement is not None else [str(exc)]
            self.app.call_from_thread(self._judged, lines, waiting)
            return
        except (PolicyRefused, SessionError, ParamError) as exc:
            self.app.call_from_thread(self._judged, [str(exc)], False)
            return
        self.app.call_from_thread(self._started_signed, session)

    def _judged(self, sentences: list[str], waiting: bool) -> None:
        """Who has signed so far, and why any signature does not count (or why the change cannot start at all)."""
        if self.pending is None:
            return
        text = Text()
        for line in sentences:
            good = " approved as " in line
            text.append(("✓ " if good else "· " if waiting else "✗ ") + line + "\n",
                        style="green" if good else "yellow" if waiting else "bold red")
        status = self.query_one("#start-approvals-status", Static)
        status.update(text)
        status.display = True
        if not waiting:
            self._stop_polling()
            self.query_one("#start-error", Static).update(Text(f"Not started: {self.pending.change_id} stays pending",
                                                               style="bold red"))

    def _started_signed(self, session: ChangeSession) -> None:
        self._stop_polling()
        self.pending = None
        self._started(session)

    def _stop_polling(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None

    def _refused(self, message: str) -> None:
        self._starting = False
        self._close_takeover()  # a takeover answers only a lock held elsewhere, and serves one start
        self.query_one("#start-error", Static).update(Text(message, style="bold red"))

    def _lock_held(self, refused: LockHeldElsewhere, request: StartRequest) -> None:
        """Another console holds the lock live: say so above the takeover fields and offer them (emptied)."""
        self._starting = False
        self._clear_takeover()
        self._lock_context = request.context
        self.query_one("#start-lock-held", Static).update(Text(refused.worded(FORM_TAKEOVER), style="bold red"))
        self.query_one("#start-lock").display = True
        self.query_one("#start-error", Static).update(Text(
            "Not started: another console holds the change lock (see Change lock above).", style="bold red"))
        self.query_one("#start-lock-reason", Input).focus()

    def _clear_takeover(self) -> None:
        for field in ("#start-lock-reason", "#start-lock-approver"):
            self.query_one(field, Input).value = ""

    def _close_takeover(self) -> None:
        """Hide the Change lock section with its fields emptied: what was typed there is not kept for another start."""
        self._lock_context = None
        self._clear_takeover()
        self.query_one("#start-lock-held", Static).update("")
        section = self.query_one("#start-lock")
        section.display = False
        if self.focused is not None and section in self.focused.ancestors:
            self._focus_first()  # not left on a field that is gone

    def _started(self, session: ChangeSession) -> None:
        self.notify(f"Change {session.change_id} started.")
        self.on_started(session)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "start":
            self._refused(f"Not started: {escape(str(event.worker.error))}")

    def action_back(self) -> None:
        if self.pending is not None:
            # Leaving stops the wait, not the change: it stays pending for `opsconsole resume`.
            self._stop_polling()
            self.notify(f"{self.pending.change_id} stays pending: opsconsole resume {self.pending.change_id}")
            self.app.pop_screen()
            return
        if self._starting:
            return  # the change is being created: it opens in a moment
        self.app.pop_screen()

