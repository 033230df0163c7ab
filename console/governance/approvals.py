"""The verdict on a change's approvals: who signed in which role, and why each refused signature does not count.

Given the policy's requirement (N approvals per role), the allowed signers, the current start request, the
approvals collected, the operator and the clock, :func:`evaluate` checks every approval in turn and stops at its
first fault, so each refusal is one sentence:

- malformed: the envelope or the signature cannot be read;
- unknown-key: the allowed-signers file lists no key for the claimed principal;
- forged: the signature was made with a key that is not the claimed principal's, does not verify against it,
  was made for another namespace, names another signer inside, or came with a request it does not cover;
- key-not-valid: the key's ``valid-after``/``valid-before`` window excludes now;
- other-request: it approves a different request (another change, a changed parameter, another runbook...), and
  the sentence names the first field that differs;
- not-yet-valid / expired: signed later than now allows, before the request existed, or more than
  ``approval_ttl`` ago (the signing time is inside the signed envelope, so it cannot be moved);
- not-required / wrong-role: the role is not one this change needs, or the key does not hold it;
- self-approval: the operator approving their own change;
- duplicate-signer: a person (or key) already counted; each approver counts once.

Requirements no one in the allowed-signers file can meet are reported before any signature is looked at.

Pure, given its inputs: the signature check itself is passed in as ``verifier``
(``console.governance.signatures.verify_signature`` in the product), so this module runs no process and reads no
clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from console.governance import request as requests
from console.governance.allowed_signers import AllowedSigners, SignatureFormatError, SignerKey, inspect_signature
from console.governance.envelope import SIGNATURE_NAMESPACE, Approval, EnvelopeError, parse_envelope

# (message, armored signature, key, namespace) -> does the signature verify over message with that key?
Verifier = Callable[[bytes, bytes, SignerKey, str], bool]

MALFORMED = "malformed"
UNKNOWN_KEY = "unknown-key"
FORGED = "forged"
KEY_NOT_VALID = "key-not-valid"
OTHER_REQUEST = "other-request"
NOT_YET_VALID = "not-yet-valid"
EXPIRED = "expired"
NOT_REQUIRED = "not-required"
WRONG_ROLE = "wrong-role"
SELF_APPROVAL = "self-approval"
DUPLICATE_SIGNER = "duplicate-signer"
# Clocks on an approver's laptop and on the operator's machine are not the same clock.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Accepted:
    """An approval that counts: who, in which role, when they signed, and with which key."""

    principal: str
    role: str
    signed_at: datetime
    key_fingerprint: str


@dataclass(frozen=True)
class Refused:
    """An approval that does not count, with its position in the input, a code and one sentence why."""

    index: int
    principal: str
    code: str
    reason: str


@dataclass(frozen=True)
class Verdict:
    """Whether the change may start on these approvals, and everything the operator needs to see about them."""

    approved: bool
    required: Mapping[str, int]
    accepted: tuple[Accepted, ...] = ()
    refused: tuple[Refused, ...] = ()
    missing: Mapping[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def sentences(self) -> list[str]:
        """Problems first, then each acceptance and refusal, then what is still missing; one sentence each."""
        out = list(self.problems)
        out += [f"{a.principal} approved as {a.role} at {requests.utc_text(a.signed_at)} (key {a.key_fingerprint})."
                for a in self.accepted]
        out += [r.reason for r in self.refused]
        out += [f"{n} more {role!r} approval{'s' if n > 1 else ''} needed." for role, n in sorted(self.missing.items())]
        return out


def unmeetable(
    required: Mapping[str, int], signers: AllowedSigners, *, operator: str, now: datetime,
    self_approvable: frozenset[str] = frozenset(),
) -> list[str]:
    """One sentence for each required role that too few people besides the operator hold (with a key valid now)."""
    out = []
    for role, count in sorted(required.items()):
        holders = [p for p in signers.holders(role, now) if p != operator or role in self_approvable]
        if len(holders) >= count:
            continue
        who = f" ({', '.join(holders)})" if holders else ""
        besides = "" if role in self_approvable else " other than the operator"
        out.append(
            f"The policy requires {count} {role!r} approval{'s' if count > 1 else ''} but {len(holders)} "
            f"{'person' if len(holders) == 1 else 'people'}{besides} hold{'s' if len(holders) == 1 else ''} that role "
            f"in {signers.source}{who}, so this change cannot be approved."
        )
    return out


def evaluate(
    *,
    required: Mapping[str, int],
    signers: AllowedSigners,
    request: bytes,
    approvals: Sequence[Approval],
    operator: str,
    approval_ttl: timedelta,
    now: datetime,
    verifier: Verifier,
    self_approvable: frozenset[str] = frozenset(),
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> Verdict:
    """Check every approval against the current ``request`` (canonical bytes) and the policy's ``required`` counts.

    ``self_approvable`` names roles the operator may fill themselves (SOP-005's low-risk "self-approved by
    engineer"); for every other role the operator's own signature never counts.
    """
    for role, count in required.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"the requirement for role {role!r} must be a whole number of approvals, not {count!r}")
    needed = {role: count for role, count in required.items() if count > 0}
    problems = unmeetable(needed, signers, operator=operator, now=now, self_approvable=self_approvable)
    try:
        current = requests.from_bytes(request)
    except requests.RequestError as exc:
        # Nothing can be approved against a request that cannot be read; say so and count nothing.
        return Verdict(False, needed, missing=dict(needed), problems=(*problems, f"The current request cannot be read: {exc}."))
    if current.operator != operator:
        problems.append(f"The request was made for operator {current.operator!r}, but {operator!r} is starting the change.")
    digest = requests.digest(request)
    context = _Context(needed, signers, current, digest, operator, approval_ttl, now, verifier, self_approvable, clock_skew)
    accepted: list[Accepted] = []
    refused: list[Refused] = []
    for index, approval in enumerate(approvals):
        outcome = context.check(index, approval, accepted)
        if isinstance(outcome, Accepted):
            accepted.append(outcome)
        else:
            refused.append(outcome)
    counts = {role: sum(1 for a in accepted if a.role == role) for role in needed}
    missing = {role: n - counts[role] for role, n in needed.items() if counts[role] < n}
    approved = not problems and not missing
    return Verdict(approved, needed, tuple(accepted), tuple(refused), missing, tuple(problems))


@dataclass(frozen=True)
class _Context:
    needed: Mapping[str, int]
    signers: AllowedSigners
    current: requests.StartRequest
    digest: str
    operator: str
    ttl: timedelta
    now: datetime
    verifier: Verifier
    self_approvable: frozenset[str]
    skew: timedelta

    def check(self, index: int, approval: Approval, accepted: list[Accepted]) -> Accepted | Refused:
        who = approval.principal

        def refuse(code: str, sentence: str) -> Refused:
            return Refused(index, who, code, f"Approval {index + 1} ({who}): {sentence}.")

        try:
            info = inspect_signature(approval.signature)
        except SignatureFormatError as exc:
            return refuse(MALFORMED, f"the signature is {exc}")
        lines = self.signers.lines_of(who)
        owner = self.signers.owner_of(info.key)
        if not lines:
            made = f"it was made with {owner}'s key" if owner else f"its key {info.key.fingerprint} is not listed either"
            return refuse(UNKNOWN_KEY, f"{self.signers.source} lists no key for {who!r}, and {made}")
        if owner != who:
            if owner:
                return refuse(FORGED, f"the signature was made with {owner}'s key, not with {who}'s")
            return refuse(FORGED, f"the signature was made with key {info.key.fingerprint}, which is not {who}'s and "
                                  f"is not listed in {self.signers.source}")
        if info.namespace != SIGNATURE_NAMESPACE:
            return refuse(FORGED, f"the signature was made for {info.namespace!r}, not {SIGNATURE_NAMESPACE!r}")
        line = next(ln for ln in lines if ln.key.blob == info.key.blob)
        if not any(ln.valid_at(self.now) for ln in lines if ln.key.blob == info.key.blob):
            return refuse(KEY_NOT_VALID, f"{who}'s key {info.key.fingerprint} is not valid now "
                                         f"(line {line.lineno} of {self.signers.source} limits it)")
        if not self.verifier(approval.envelope, approval.signature, info.key, SIGNATURE_NAMESPACE):
            return refuse(FORGED, f"the signature does not verify against {who}'s key {info.key.fingerprint}, "
                                  f"so the signature or what it covers was altered")
        # From here the envelope is authentic: it is exactly what this key signed.
        try:
            envelope = parse_envelope(approval.envelope)
        except EnvelopeError as exc:
            return refuse(MALFORMED, str(exc))
        if envelope.principal != who:
            return refuse(FORGED, f"the statement {who} signed names {envelope.principal!r} as its signer")
        if requests.digest(approval.request) != envelope.request_sha256:
            return refuse(FORGED, "the request that came with it is not the one signed (its SHA-256 differs)")
        if envelope.request_sha256 != self.digest:
            return refuse(OTHER_REQUEST, self._other_request(approval.request))
        if envelope.signed_at > self.now + self.skew:
            return refuse(NOT_YET_VALID, f"it was signed at {requests.utc_text(envelope.signed_at)}, later than now")
        if envelope.signed_at < self.current.created_at - self.skew:
            return refuse(NOT_YET_VALID, f"it was signed at {requests.utc_text(envelope.signed_at)}, before the request "
                                         f"was created at {requests.utc_text(self.current.created_at)}")
        if envelope.signed_at + self.ttl < self.now:
            return refuse(EXPIRED, f"it was signed at {requests.utc_text(envelope.signed_at)} and expired at "
                                   f"{requests.utc_text(envelope.signed_at + self.ttl)} (approvals last {_span(self.ttl)})")
        role = envelope.role
        if role not in self.needed:
            wanted = ", ".join(repr(r) for r in sorted(self.needed)) or "none"
            return refuse(NOT_REQUIRED, f"this change needs no {role!r} approval (it needs: {wanted})")
        held = self.signers.roles_of(who, info.key)
        if role not in held:
            has = ", ".join(sorted(held)) or "no role"
            return refuse(WRONG_ROLE, f"{who} signed as {role!r}, but {self.signers.source} gives that key {has}")
        if who == self.operator and role not in self.self_approvable:
            return refuse(SELF_APPROVAL, f"{who} is the operator starting this change and cannot approve it as {role!r}")
        for earlier in accepted:
            if earlier.principal == who or earlier.key_fingerprint == info.key.fingerprint:
                return refuse(DUPLICATE_SIGNER, f"{who} already approved as {earlier.role!r}, and each person counts once")
        return Accepted(who, role, envelope.signed_at, info.key.fingerprint)

    def _other_request(self, signed_bytes: bytes) -> str:
        try:
            signed = requests.from_bytes(signed_bytes)
        except requests.RequestError:
            return "it approves a different request, which cannot be read to say how it differs"
        diff = requests.first_difference(signed, self.current)
        if diff is None:  # same fields, different bytes: cannot happen for canonical requests, said plainly anyway
            return "it approves a request with a different SHA-256"
        return f"it approves a different request: {diff.sentence()}"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"
