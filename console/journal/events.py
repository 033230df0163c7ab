"""The vocabulary of a change journal: every event type and the fields its ``data`` carries.

This table is the summary; ``event_data.py`` holds a pydantic model per type (``MODELS``), which the writer checks
each event against before it is written and the folds read typed fields from.

The engine is the only writer; the renderer, the reviewer and the session fold are readers. Types are dotted
names so a reader can ignore a family it does not know (forward compatibility: an older reviewer shows an
unknown event as such instead of failing).

=========================  ==========================================================================================
type                       data
=========================  ==========================================================================================
change.created             change_id, runbook{id,title,component,from,to,risk,path,sha256}, file{path,sha256} (the
                           runbook copy), environment, context, operator, description, scope, blast_radius, emergency,
                           host
params.set                 params{name: value} (secret values already "[REDACTED]")
policy.checked             checks[{name, ok, message}] (context guard, window, frequency), policy_sha256,
                           allowed_signers{path,sha256} (where policy names one)
approval.recorded          name, role, reference, step_id (for an approval step, else absent)
approval.requested         request{path,sha256} (request.json), policy_sha256, allowed_signers{path,sha256} (the
                           copy in artifacts/), required{role: n}, ttl_s: the change waits for signed approvals
approval.verified          request{path,sha256}, policy_sha256, allowed_signers{path,sha256}, required{role: n},
                           accepted[{principal, role, signed_at, key_fingerprint, file{path,sha256}}]
approval.owed              request{path,sha256}, policy_sha256, allowed_signers{path,sha256}, required{role: n}, ttl_s:
                           an emergency started without the signed approvals policy wants; they are owed after the fact
breakglass.recorded        reason, approver, what (the rule overridden), step_id
session.resumed            operator, host, pid (a new session: confirmations of earlier sessions no longer count)
step.confirmed             section, step_id, method (yes | typed), word, by
step.confirmation_refused  section, step_id, typed (what was typed instead), by
step.started               section, step_id, title, kind, command, argv, namespace, target, attempt, retry{try, of,
                           interval_s} (a step with retry), timing{declared, factor, scaled} (declared durations and
                           the rehearsal clock's factor they were divided by)
step.finished              section, step_id, status (passed | failed), exit_code, duration_s, process_s, reason, lines,
                           file{path,sha256}, trigger{...}, retrying (a failed try another try follows)
step.interrupted           section, step_id, reason, file{path,sha256} (partial output), files[]
step.skipped               section, step_id, reason, when{param: value} (the step's condition did not hold)
manual.answered            section, step_id, answer (done | no), note, by
note.added                 step_id, text, author
artifact.saved             section, step_id, kind, description, file{path,sha256} (and a step kind's own fields)
failure.choice             section, step_id, choice (retry | rollback | continue | abort), by, automatic, countdown_s
failure.held               section, step_id, by (the operator held an automatic rollback's countdown)
rollback.started           reason, steps[ids], automatic
rollback.finished          status (done | failed), failed_step
trigger.fired              trigger, object, message
escalation.passed          level, minutes, step_id, failed_at
escalation.notified        level, step_id, failed_at, argv[], exit_code, output, error (policy's notify command, run)
cluster.snapshot           when (before | after), summary{...}
lock.acquired              lease (namespace/name), holder, scope, duration_s, acquired, transitions, uid, resumed,
                           displaced{holder, change, step, expired} (whose claim it replaced), break_glass
lock.lost                  lease, holder (who has it now, or held it last), change, step, reason (a break-glass
                           take-over's), detected (renewal | resume), message
lock.unreachable           lease, message, lease_expired (a renewal failed: the API did not answer)
lock.restored              lease (a renewal succeeded again after failing)
lock.paused                step_id, message (a mutating step held back while the lock cannot be renewed)
lock.released              lease, released (false: it was not ours any more)
change.closed              outcome (success | rolled_back | partial | aborted), suggested, followups[], signoff{name, role}
signature.closeout         principal, head, signed_at, key_fingerprint, statement, signature (after change.closed)
signature.retro_approval   principal, role, signed_at, key_fingerprint, file{path,sha256} (approvals/NAME.json),
                           request{path,sha256}: an emergency's owed approval, signed and verified after the fact
                           (may follow change.closed)
addendum.added             author, kind (correction | follow-up | post-mortem), text, refers_to (seq or null)
change.aliased             team_id, provisional_id, by (a provisional ID's team ID, claimed at a later sync)
journal.torn_tail          line, sha256, bytes_b64, length (written by the journal itself)
journal.newline_restored   line, seq (written by the journal itself: that event was whole but lacked its newline)
change.refused             operator, host, runbook{id,path,sha256}, environment, context, reason, verdicts[], params{},
                           approvals[], emergency (the refused-start log's events, audit.py; never in a change)
=========================  ==========================================================================================

Close-out evidence (a runbook's ``evidence:``) is recorded with the step events above under section ``evidence``,
step_id the evidence id: a command's ``step.started``/``artifact.saved``/``step.finished`` (or ``step.interrupted``
with the partial ``file`` and ``files``), and for ``from_step`` one ``artifact.saved`` with from_step, attempt,
status, file and files of that step's latest run, or ``missing`` (why nothing could be kept) instead of a file.
The fold of the plan ignores that section.
"""

from __future__ import annotations

from console.journal.chain import NEWLINE_RESTORED as NEWLINE_RESTORED_EVENT
from console.journal.chain import TORN_TAIL as TORN_TAIL_EVENT

CHANGE_CREATED = "change.created"
PARAMS_SET = "params.set"
POLICY_CHECKED = "policy.checked"
APPROVAL_RECORDED = "approval.recorded"
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_VERIFIED = "approval.verified"
APPROVAL_OWED = "approval.owed"  # an emergency's signed approvals, owed after the fact (it did not wait for them)
SIGNATURE_CLOSEOUT = "signature.closeout"  # "signature." events may follow change.closed, like addenda
SIGNATURE_RETRO_APPROVAL = "signature.retro_approval"  # an owed approval, given after the fact
BREAKGLASS_RECORDED = "breakglass.recorded"
STEP_CONFIRMED = "step.confirmed"
STEP_CONFIRMATION_REFUSED = "step.confirmation_refused"
STEP_STARTED = "step.started"
STEP_FINISHED = "step.finished"
STEP_INTERRUPTED = "step.interrupted"
STEP_SKIPPED = "step.skipped"  # a step whose when: did not hold for the change's parameters
MANUAL_ANSWERED = "manual.answered"
NOTE_ADDED = "note.added"
ARTIFACT_SAVED = "artifact.saved"
FAILURE_CHOICE = "failure.choice"
FAILURE_HELD = "failure.held"
SESSION_RESUMED = "session.resumed"
ROLLBACK_STARTED = "rollback.started"
ROLLBACK_FINISHED = "rollback.finished"
TRIGGER_FIRED = "trigger.fired"
ESCALATION_PASSED = "escalation.passed"
ESCALATION_NOTIFIED = "escalation.notified"
CLUSTER_SNAPSHOT = "cluster.snapshot"
CHANGE_CLOSED = "change.closed"
LOCK_ACQUIRED = "lock.acquired"
LOCK_LOST = "lock.lost"
LOCK_UNREACHABLE = "lock.unreachable"
LOCK_RESTORED = "lock.restored"
LOCK_PAUSED = "lock.paused"
LOCK_RELEASED = "lock.released"
ADDENDUM_ADDED = "addendum.added"
CHANGE_ALIASED = "change.aliased"
TORN_TAIL = TORN_TAIL_EVENT  # written by the journal itself on recovery
NEWLINE_RESTORED = NEWLINE_RESTORED_EVENT  # likewise
CHANGE_REFUSED = "change.refused"  # the refused-start log's one type (audit.py), never in a change's journal

OUTCOMES = ("success", "rolled_back", "partial", "aborted")
SECTIONS = ("precondition", "gate", "step", "rollback", "verification")
EVIDENCE_SECTION = "evidence"  # close-out evidence: recorded with step events, never part of the plan
SECTION_TITLES = {
    "precondition": "Preconditions",
    "gate": "Gates",
    "step": "Steps",
    "rollback": "Rollback",
    "verification": "Verification",
}
