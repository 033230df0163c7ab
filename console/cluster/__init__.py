"""Cluster access: kubeconfig and contexts, list-then-watch loops, kubectl rollout logic and pure row renderers."""
