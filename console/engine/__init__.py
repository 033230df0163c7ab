"""The execution engine: command runner, redaction, the event-sourced change session, policy and triggers."""
