"""Adversarial rehearsals: runbooks of procedures the console was not written around, driven through the real console.

``runbooks/`` holds seven runbooks taken from the seed procedures (none a copy of a shipped one), with the manifests
they apply in ``runbooks/manifests/``; ``answers/`` the answers files that drive them unattended; ``policy/`` the
policy they run under. Each is rehearsed end to end against the rehearsal cluster (``test_*.py``), and killed and
resumed mid-change (``test_crash_loops.py``; ``benchmarks/crash.py`` is the long version).

=============================  ==================================================================================
runbook                        procedure (seed)
=============================  ==================================================================================
layered-cache-dependency       a new dependency in its own namespace, web repointed to it, rolled back in layers:
                               web first, then the dependency (migration guide, scenario 4 and layered rollback)
gated-web-release              mandatory fail-closed validation gates, go/no-go, health checks, a retried smoke
                               test, escalation deadlines (SOP-002 deployment, upgrade-runbook rules)
web-workers-config             backup first, a ConfigMap change needing a restart, automatic rollback on a
                               condition restoring the backup (configuration change procedures)
emergency-web-capacity         the emergency fast track outside the change window: justification, verbal approval,
                               minimal fix, immediate monitoring, post-mortem follow-up (SOP-005)
web-canary-stages              a canary scaled up in stages with an observe window after each, aborted by a trigger
                               (migration guide, pattern 2)
db-credential-rotation         a leaked password rotated: secrets as parameters, in a probe's environment and output,
                               in a Secret's base64 data and in the operator's notes and approvals (SOP-005 security
                               change, configuration procedures' backup first)
cache-auth-terraform           a cache tier scaled and given a new auth token with Terraform: a sensitive variable,
                               state backup, guarded plan, sensitive outputs (migration guide, scenario 4)
=============================  ==================================================================================
"""
