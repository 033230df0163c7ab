"""Every file a change leaves on disk, searched for secrets as raw bytes: as typed, and in the forms tools print them.

A Kubernetes Secret's data is base64 (``kubectl get secret -o jsonpath={.data.KEY}`` prints just that), Terraform
keeps state and plans as JSON and zip files: a secret that reaches the record in any of these forms is on disk as
surely as one written plainly. ``leaks`` names each (secret, file, form) found.
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path


def forms(secret: str) -> dict[str, bytes]:
    """The byte strings that give a secret away: itself, its base64 (with and without the newline ``echo`` adds)."""
    raw = secret.encode()
    return {
        "raw": raw,
        "base64": base64.b64encode(raw).rstrip(b"="),
        "base64 of a line": base64.b64encode(raw + b"\n").rstrip(b"="),
    }


def contents(path: Path) -> Iterable[tuple[str, bytes]]:
    """The file's bytes, and for a zip file (a saved Terraform plan) each member's, named ``file!member``."""
    data = path.read_bytes()
    yield path.name, data
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield f"{path.name}!{member}", archive.read(member)


def leaks(root: Path, secrets: Iterable[str]) -> list[str]:
    """``secret in file (form)`` for every secret found under ``root`` (file names included), empty when none is."""
    found = []
    files = [p for p in root.rglob("*") if p.is_file()]
    for secret in secrets:
        for form, needle in forms(secret).items():
            for path in files:
                if needle in str(path.relative_to(root)).encode():
                    found.append(f"{secret!r} in the name {path.relative_to(root)} ({form})")
                for name, data in contents(path):
                    if needle in data:
                        found.append(f"{secret!r} in {name} ({form})")
    return found
