"""The allowed-signers file: whose key is whose, and who holds which approval role, in OpenSSH's own format.

Roles are principals. A line lists one person and, beside them, one ``role:NAME`` principal per role held::

    alice,role:senior-engineer,role:security namespaces="opsconsole-approval" ssh-ed25519 AAAA...

The file stays an ordinary ``allowed_signers`` file: ``ssh-keygen -Y verify -I alice`` checks who signed, and
``ssh-keygen -Y verify -I role:security`` checks, with no opsconsole code at all, that the key holds the role.
(OpenSSH refuses a line with an option it does not know, so roles cannot be a new option; a comment would be
free text that tools may drop; a sidecar file could disagree with the keys.)

The console reads the file strictly, because a pattern that ssh-keygen would expand must not mean something
else here: on every line that applies to the ``opsconsole-approval`` namespace, principals are plain names (no
``*``, ``?`` or ``!``), exactly one is a person, one key belongs to one person, and ``cert-authority`` is refused
(a CA line delegates the list of approvers to whoever runs the CA). ``valid-after``/``valid-before`` are honoured
and must be written in UTC (ending in ``Z``) so every machine reads the same instant. Lines for other namespaces
(``namespaces="git"``) are left alone.

Pure: parses text the caller read, inspects signatures, formats lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from sshsig.allowed_signers import AllowedSigner
from sshsig.sshsig import SshsigSignature

from console.errors import OpsConsoleError
from console.governance.envelope import SIGNATURE_NAMESPACE

ROLE_PREFIX = "role:"
PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Key types ssh-keygen signs with; sshsig verifies the first two itself, the rest go to ssh-keygen (signatures.py).
KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
_TIME = re.compile(r"^(\d{8})(\d{4})?(\d{2})?Z$")


class AllowedSignersError(OpsConsoleError, ValueError):
    """The allowed-signers file says something the console will not act on; one sentence naming file and line."""


class SignatureFormatError(OpsConsoleError, ValueError):
    """Bytes that are not an armored SSH signature."""


@dataclass(frozen=True)
class SignerKey:
    """A public key as its SSH wire blob, with the type and SHA256 fingerprint ssh-keygen shows for it."""

    key_type: str
    blob: bytes

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.blob)

    def openssh(self) -> str:
        """``ssh-ed25519 AAAA...``: the form an allowed-signers line and a ``.pub`` file use."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"

    @classmethod
    def from_openssh(cls, text: str) -> SignerKey:
        """Parse ``TYPE BASE64 [comment]``; raises ValueError with a short reason."""
        parts = text.split()
        if len(parts) < 2:
            raise ValueError("a public key is written as TYPE BASE64")
        try:
            blob = base64.b64decode(parts[1].encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ValueError("the key's base64 is damaged") from None
        inner = _blob_type(blob)
        if inner != parts[0]:
            raise ValueError(f"the key says {parts[0]!r} but its data is {inner or 'unreadable'!r}")
        return cls(parts[0], blob)


@dataclass(frozen=True)
class SignerLine:
    """One line that applies to approvals: a person, the roles this key holds, the key and its validity window."""

    lineno: int
    principal: str
    roles: frozenset[str]
    key: SignerKey
    valid_after: datetime | None = None
    valid_before: datetime | None = None

    def valid_at(self, when: datetime) -> bool:
        if self.valid_after is not None and when < self.valid_after:
            return False
        return self.valid_before is None or when <= self.valid_before


@dataclass(frozen=True)
class AllowedSigners:
    """The lines of an allowed-signers file that apply to approvals, and where the file came from."""

    source: str
    lines: tuple[SignerLine, ...]

    @property
    def principals(self) -> list[str]:
        return sorted({line.principal for line in self.lines})

    def lines_of(self, principal: str) -> list[SignerLine]:
        return [line for line in self.lines if line.principal == principal]

    def owner_of(self, key: SignerKey) -> str | None:
        """The person whose key this is (the parser guarantees at most one)."""
        return next((line.principal for line in self.lines if line.key.blob == key.blob), None)

    def roles_of(self, principal: str, key: SignerKey) -> frozenset[str]:
        """The roles ``principal`` holds with ``key``: the union over every line listing both (as ssh-keygen reads it)."""
        held: set[str] = set()
        for line in self.lines:
            if line.principal == principal and line.key.blob == key.blob:
                held |= line.roles
        return frozenset(held)

    def holders(self, role: str, when: datetime) -> list[str]:
        """Every person with a key that holds ``role`` and is valid at ``when``."""
        return sorted({line.principal for line in self.lines if role in line.roles and line.valid_at(when)})


def parse_allowed_signers(text: str, source: str = "allowed_signers", namespace: str = SIGNATURE_NAMESPACE) -> AllowedSigners:
    """Read the file's text; raises :class:`AllowedSignersError` at the first line the console will not act on."""
    lines: list[SignerLine] = []
    owners: dict[bytes, tuple[str, int]] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{source}:{lineno}"
        try:
            parsed = AllowedSigner.parse(stripped)
        except (ValueError, NotImplementedError) as exc:
            raise AllowedSignersError(f"{where}: not an allowed-signers line ({exc})") from None
        options = {k.lower(): v for k, v in (parsed.options or {}).items()}
        if "namespaces" in options and not match_pattern_list(namespace, options["namespaces"]):
            continue  # a line for git signatures or another tool: not ours to judge
        line = _signer_line(parsed.principals, options, parsed.key_type, parsed.base64_key, lineno, where)
        previous = owners.setdefault(line.key.blob, (line.principal, lineno))
        if previous[0] != line.principal:
            raise AllowedSignersError(
                f"{where}: key {line.key.fingerprint} is given to {line.principal!r} here and to {previous[0]!r} on "
                f"line {previous[1]}; one key must belong to one person"
            )
        lines.append(line)
    return AllowedSigners(source, tuple(lines))


def format_line(principal: str, roles: list[str] | tuple[str, ...], key: str, namespace: str = SIGNATURE_NAMESPACE) -> str:
    """One allowed-signers line for ``principal`` holding ``roles`` with ``key`` (``TYPE BASE64 [comment]``)."""
    if not PERSON.match(principal) or principal.startswith(ROLE_PREFIX):
        raise AllowedSignersError(f"{principal!r} is not a plain principal name (letters, digits, . _ @ + -)")
    for role in roles:
        if not ROLE.match(role):
            raise AllowedSignersError(f"{role!r} is not a role name (letters, digits, . _ -)")
    try:
        parsed = SignerKey.from_openssh(key)
    except ValueError as exc:
        raise AllowedSignersError(f"the key for {principal!r} cannot be read: {exc}") from None
    names = ",".join([principal] + [ROLE_PREFIX + r for r in dict.fromkeys(roles)])
    return f'{names} namespaces="{namespace}" {parsed.openssh()}'


@dataclass(frozen=True)
class SignatureInfo:
    """What an armored signature says about itself, before anyone checks it: the key it names and its namespace."""

    key: SignerKey
    namespace: str


def inspect_signature(armored: bytes) -> SignatureInfo:
    """The key and namespace inside an armored SSH signature; raises :class:`SignatureFormatError`."""
    try:
        sig = SshsigSignature.from_armored(armored)
        key_type = _blob_type(sig.public_key)
        namespace = sig.namespace.decode("ascii")
    except (ValueError, NotImplementedError, UnicodeDecodeError) as exc:
        raise SignatureFormatError(f"not an SSH signature ({str(exc) or type(exc).__name__})") from None
    if not key_type:
        raise SignatureFormatError("the signature's public key is unreadable")
    return SignatureInfo(SignerKey(key_type, bytes(sig.public_key)), namespace)


def key_fingerprint(blob: bytes) -> str:
    """``SHA256:...`` exactly as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def match_pattern_list(name: str, patterns: str) -> bool:
    """OpenSSH's match_pattern_list: comma-separated ``*``/``?`` patterns; a matching ``!pattern`` vetoes."""
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in body)
        if re.fullmatch(regex, name, flags=re.DOTALL):
            if negated:
                return False
            matched = True
    return matched


def _signer_line(principals: str, options: dict[str, str], key_type: str, key_b64: str, lineno: int, where: str) -> SignerLine:
    if "cert-authority" in options:
        raise AllowedSignersError(
            f"{where}: cert-authority lines are not accepted for approvals; list each approver's own key"
        )
    person: list[str] = []
    roles: set[str] = set()
    for name in principals.split(","):
        if any(c in name for c in "*?!"):
            raise AllowedSignersError(
                f"{where}: principal pattern {name!r} would let this key sign as others; approval lines name "
                f"principals exactly (restrict other lines with namespaces=\"...\")"
            )
        if name.startswith(ROLE_PREFIX):
            role = name[len(ROLE_PREFIX):]
            if not ROLE.match(role):
                raise AllowedSignersError(f"{where}: {name!r} is not a role principal (role:NAME)")
            roles.add(role)
        elif PERSON.match(name):
            person.append(name)
        else:
            raise AllowedSignersError(f"{where}: {name!r} is not a principal name")
    if len(person) != 1:
        found = "none" if not person else ", ".join(person)
        raise AllowedSignersError(f"{where}: an approval line names exactly one person besides its roles (found {found})")
    if key_type not in KEY_TYPES:
        raise AllowedSignersError(f"{where}: key type {key_type!r} is not one ssh-keygen signs approvals with")
    try:
        key = SignerKey.from_openssh(f"{key_type} {key_b64}")
    except ValueError as exc:
        raise AllowedSignersError(f"{where}: {exc}") from None
    after = _time(options.get("valid-after"), "valid-after", where)
    before = _time(options.get("valid-before"), "valid-before", where)
    return SignerLine(lineno, person[0], frozenset(roles), key, after, before)


def _time(value: str | None, name: str, where: str) -> datetime | None:
    if value is None:
        return None
    m = _TIME.match(value)
    if not m:
        raise AllowedSignersError(f"{where}: {name} must be a UTC time YYYYMMDD[HHMM[SS]]Z, not {value!r}")
    text = m.group(1) + (m.group(2) or "0000") + (m.group(3) or "00")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise AllowedSignersError(f"{where}: {name} {value!r} is not a real date and time") from None


def _blob_type(blob: bytes) -> str:
    """The type name an SSH key blob starts with, or '' if the blob is too short to have one."""
    if len(blob) < 4:
        return ""
    (length,) = struct.unpack(">I", blob[:4])
    if length > len(blob) - 4:
        return ""
    try:
        return blob[4:4 + length].decode("ascii")
    except UnicodeDecodeError:
        return ""
