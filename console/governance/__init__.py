"""Approvals nobody can fake: the start request a change is approved on, SSH signatures over it, and their verdict.

``request`` is the canonical document an approver signs (pure), ``envelope`` wraps its digest with the signer, the
role and the signing time (pure), ``allowed_signers`` reads the OpenSSH file that says whose key is whose and who
holds which role (pure), ``approvals`` decides whether the signatures collected meet the policy (pure), and
``signatures`` is the one module that touches the machine: ``ssh-keygen`` to sign, ``sshsig`` to verify.
"""
