"""The change journal: append-only, fsynced, hash-chained events; the record store; asciicast outputs; record rendering."""
