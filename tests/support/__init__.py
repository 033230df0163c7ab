"""What the tests share: waits on a state with a deadline, the screen read as text, sample records, the Terraform
environment, approvers' keys, kubectl's printPod cases, a private tmux. Imported as ``tests.support.<module>``.
"""
