"""The change journal's write side: append-only, fsynced, hash-chained events and what each event's data holds; the
journal's reader and verifier (the writer checks a chain before it appends); the record store; asciicast outputs; the
refused-start log. Readings of a record (summary, record.md, exports, reports) are in ``console.review``."""
