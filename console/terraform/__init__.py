"""Terraform steps: drivers (a terraform binary, or the embedded engine) and pure plan summaries and guards."""
