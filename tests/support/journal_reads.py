"""Switching off the journal's fast reads in a test, so every line goes through the line-by-line path it is
compared with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from console.journal import batch
from console.journal import verify as verify_module


@contextmanager
def fast_reads_off() -> Iterator[None]:
    """Both fast reads switched off, the runs' (``batch.take``) and the line's (``_fast_fields``): every line through
    ``_parse_line``."""
    saved = verify_module._fast_fields, batch.take
    verify_module._fast_fields = lambda b: None  # type: ignore[assignment]
    batch.take = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        verify_module._fast_fields, batch.take = saved
