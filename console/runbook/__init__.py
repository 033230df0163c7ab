"""Runbooks: the YAML format as pydantic models, a loader that reports file:line:col, lint rules and parameters."""
