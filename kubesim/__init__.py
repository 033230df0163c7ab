"""The rehearsal cluster: a local Kubernetes API server with controllers, scenarios and fault switches.

It imports nothing from the console (an import-linter contract in pyproject.toml), down to its own ports of
kubectl's printPod and HumanDuration, so the real kubectl against it checks the console independently.
"""
