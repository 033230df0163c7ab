"""The rehearsal cluster: a local Kubernetes API server with controllers, scenarios and fault switches."""
