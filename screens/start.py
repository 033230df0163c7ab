"""Start a change: parameters, environment and context with the guard's verdict, approvals, windows, emergency.

Nothing is written until the operator presses ctrl+s: the verdicts are computed from the form as it is typed
(the same functions the engine uses), and only ``ChangeSession.start`` creates the change and shows its ID.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Header, Input, Select, Static

from console.config import Policy
from console.engine import policy as pol
from console.engine.kubecontext import KubeconfigError, contexts, kubeconfig_paths, load_merged
from console.engine.session import ChangeSession, PolicyRefused, SessionError, StartRequest, evaluate_policy
from console.journal.store import RecordStore
from console.runbook.loader import LoadedRunbook
from console.runbook.params import ParamError, resolve


def _id(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


class StartScreen(Screen):
    """The form that starts a change from one runbook."""

    BINDINGS = [
        Binding("ctrl+s", "start", "Start the change", id="start.go", tooltip="Check everything and create the change"),
        Binding("escape", "back", "Back", id="start.back", tooltip="Back to Home; nothing is written"),
    ]

    def __init__(self, loaded: LoadedRunbook, *, store: RecordStore, policy: Policy, kubeconfig: str | None,
                 operator: str, clock: Callable[[], datetime], on_started: Callable[[ChangeSession], None],
                 params: dict[str, str] | None = None, context: str | None = None) -> None:
        super().__init__()
        self.prefill = params or {}
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

    def compose(self) -> ComposeResult:
        rb = self.loaded.runbook
        md = rb.metadata
        yield Header()
        with VerticalScroll(id="start-form"):
            yield Static(Text.assemble((md.title, "bold"), f"  ·  {md.component} {md.from_version} → {md.to_version}  ·  risk ",
                                       (md.risk, "bold red" if md.risk in ("high", "critical") else "bold")), id="start-title")
            yield Static(rb.why.strip(), id="start-why")
            yield Static("Parameters", classes="section-title")
            for name, p in rb.params.items():
                with Horizontal(classes="form-row"):
                    yield Static(f"{name} ({p.type}{', secret' if p.secret else ''})", classes="form-label")
                    shown = self.prefill.get(name, "" if p.default is None or p.secret else str(p.default))
                    yield Input(compact=True, value=str(shown), password=p.secret,
                                placeholder=p.description or name, id=f"param-{_id(name)}")
            yield Static("Where", classes="section-title")
            envs = [e for e in md.environments if e in self.policy.environments] or list(md.environments)
            wanted = self.asked_context or self.current_context
            default_ctx = wanted if wanted in self.contexts else (self.contexts[0] if self.contexts else None)
            default_env = self.policy.environment_of(default_ctx) if default_ctx else None
            with Horizontal(classes="form-row"):
                yield Static("environment", classes="form-label")
                yield Select(compact=True, options=[(e, e) for e in envs], value=default_env if default_env in envs else envs[0], allow_blank=False, id="start-env")
            with Horizontal(classes="form-row"):
                yield Static("kube context", classes="form-label")
                if self.contexts:
                    yield Select(compact=True, options=[(c, c) for c in self.contexts], value=default_ctx, allow_blank=False, id="start-context")
                else:
                    yield Static(Text(self.kube_error or "no contexts", style="bold red"), id="start-context-missing")
            with Horizontal(classes="form-row", id="typed-context-row"):
                yield Static("type the context", classes="form-label")
                yield Input(compact=True, placeholder="production: type the context name to start", id="start-typed-context")
            with Horizontal(classes="form-row"):
                yield Static("operator", classes="form-label")
                yield Input(compact=True, value=self.operator, id="start-operator")
            yield Static("Approvals", classes="section-title")
            roles = self.policy.required_roles(md.risk)
            if not roles:
                yield Static(f"A {md.risk}-risk change needs no approval beyond the operator.")
            for role in roles:
                with Horizontal(classes="form-row"):
                    yield Static(role, classes="form-label")
                    yield Input(compact=True, placeholder="name", id=f"appr-name-{_id(role)}")
                    yield Input(compact=True, placeholder="reference (ticket)", id=f"appr-ref-{_id(role)}")
            yield Static("Emergency (break-glass)", classes="section-title")
            with Horizontal(classes="form-row"):
                yield Checkbox("emergency change", id="start-emergency", compact=True)
                yield Input(compact=True, placeholder="reason", id="start-emergency-reason")
                yield Input(compact=True, placeholder="approved by", id="start-emergency-approver")
            yield Static("Policy", classes="section-title")
            yield Static(id="start-verdicts")
            yield Static(id="start-error")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Start a change"
        self._update_verdicts()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self._update_verdicts()

    def _value(self, selector: str) -> str:
        try:
            widget = self.query_one(selector)
        except Exception:  # the widget is absent (no contexts): an empty answer
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
        return StartRequest(
            runbook_path=self.loaded.path, environment=self._value("#start-env"), context=self._value("#start-context"),
            operator=self._value("#start-operator").strip() or self.operator, params=params, approvals=approvals,
            emergency_reason=self._value("#start-emergency-reason").strip() if emergency else None,
            emergency_approver=self._value("#start-emergency-approver").strip() if emergency else None,
            typed_context=self._value("#start-typed-context").strip() or None, kubeconfig=self.kubeconfig,
        )

    def _update_verdicts(self) -> None:
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

    def action_start(self) -> None:
        try:
            session = ChangeSession.start(self.request(), store=self.store, policy=self.policy, clock=self.clock)
        except (PolicyRefused, SessionError, ParamError) as exc:
            self.query_one("#start-error", Static).update(Text(f"Not started: {exc}", style="bold red"))
            return
        self.notify(f"Change {session.change_id} started.")
        self.on_started(session)

    def action_back(self) -> None:
        self.app.pop_screen()

