"""The reading side of the change record: the summary fold, record.md and exports, the list's index, reports, addenda.

Everything here reads what ``console.journal`` wrote (through its reader and verifier) and works with nothing but a
records directory: no cluster client, no engine. The journal's write side never imports this package.
"""
