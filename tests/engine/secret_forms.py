"""Concrete secrets in the forms real tools print them, one or more for every redaction rule.

Each form is (rule, before, secret, after): the text is ``before + secret + after`` and redaction must turn it into
``before + [REDACTED] + after``. The tokens are made up but have the real shapes. ``KUBECTL_LINES`` is ordinary
output that must come through untouched. Both the rule tests and the end-to-end sweep use them.
"""

from __future__ import annotations

from typing import NamedTuple


class Form(NamedTuple):
    rule: str
    before: str
    secret: str
    after: str

    @property
    def text(self) -> str:
        return self.before + self.secret + self.after


HEX16 = "0123456789abcdef"

FORMS: tuple[Form, ...] = (
    # names that hold secrets
    Form("name-assignment", "DB_PASSWORD=", "hunter2x", ""),
    Form("name-assignment", "export GITHUB_TOKEN=", "abc123def456", " && git push"),
    Form("name-assignment", "AWS_SESSION_TOKEN='", "FwoGZXIvYXdzEJr//wEaDH", "'"),
    Form("name-assignment", '{"client_secret": "', "pa ss word", '", "user": "x"}'),
    Form("name-assignment", "PGPASSWORD=", "pgpass77", " psql -h db"),
    Form("name-assignment", "MYSQL_PWD=", "mypwd88", " mysql"),
    Form("name-assignment", "settings api-key := ", "k3y-value9", ""),
    Form("name-assignment", "jdbc:postgresql://db/app?user=app&password=", "jd6cpw", "&ssl=true"),
    Form("name-assignment", "helm upgrade web ./chart --set db.password=", "helmpw55", " --wait"),
    # kubectl's last-applied-configuration annotation holds the applied object as escaped JSON
    Form("name-assignment", r'    {\"apiVersion\":\"v1\",\"data\":{\"password\":\"', "aHVudGVyMg==", r'\"},\"kind\":\"Secret\"}'),
    # a command line as the console displays it: shlex quotes a quote inside a single-quoted word as '"'"'
    Form("name-assignment", "sh -c 'export DB_PASSWORD='\"'\"'", "quoted pw", "'\"'\"'; ./migrate'"),
    Form("name-yaml-line", "  POSTGRES_PASSWORD: ", "two words here", ""),
    Form("name-yaml-line", "    client-key-data: ", "LS0tLS1CRUdJTiBFQyBQUklWQVRF", ""),
    Form("name-flag", "kubectl --token ", "kubetok99", " get pods"),
    Form("name-flag", "vault write auth/x --db-password '", "pass word", "'"),
    Form("kubernetes-env-pair", '{"name":"DB_PASSWORD","value":"', "envpw123", '"}'),
    Form("kubernetes-env-lines", "- name: API_TOKEN\n  value: ", "envtok456", ""),
    Form("kubernetes-env-lines", '    {\n        "name": "SMTP_PASS",\n        "value": "', "smtppw7", '"'),
    # secrets in command lines
    Form("mysql-p", "mysql -uroot -p", "hunter22", " -e 'select 1'"),
    Form("mysql-p", "mysqldump -u app -p'", "dump pw", "' shop"),
    Form("mysql-p", "kubectl exec db-0 -- mariadb -uroot '-p", "mariapw", "'"),
    Form("mysql-p", "sh -c 'mysql -uroot -p'\"'\"'", "my pw", "'\"'\"' shop'"),
    Form("registry-login-p", "docker login -u me -p ", "dockerpw1", " registry.example"),
    Form("curl-user", "curl -sf -u admin:", "curlpw42", " https://api.example/v1"),
    Form("pass-flag", "keytool -list -keystore ks.jks -storepass ", "changeit9", ""),
    Form("pass-flag", "openssl rsa -in key.pem -passin pass:", "opensslpw", " -out plain.pem"),
    Form("netrc", "machine git.example.com login me password ", "netrcpw3", ""),
    Form("authorization-header", 'curl -H "Authorization: Basic ', "dXNlcjpwYXNz", '" https://x'),
    Form("authorization-header", "< Proxy-Authorization: token ", "proxytok1", ""),
    Form("bearer", "calling with bearer ", "abcdefgh12345678", " now"),
    Form("url-credentials", "psql postgres://app:", "pg@ss99", "@db.internal:5432/app"),
    Form("url-credentials", "redis-cli -u redis://:", "redispw5", "@redis:6379"),
    # token shapes (detect-secrets and newer)
    Form("aws-access-key-id", "key ", "AKIAIOSFODNN7EXAMPLE", " used"),
    Form("aws-secret-access-key", 'aws_key = "', "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", '"'),
    Form("aws-secret-access-key-assignment", "aws_secret_access_key = ", "wJalrXUtnFEMIK7MDENGbPxRfiCY", ""),
    Form("artifactory-token", "artifactory ", "AKCabcdefghij12", " ok"),
    Form("artifactory-password", "pw ", "AP6abcdefghij", " ok"),
    Form("azure-storage-key", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=", "Ab1+" * 21 + "Ab==",
         ";EndpointSuffix=core.windows.net"),
    Form("cloudant-password", "cloudant_pw = ", HEX16 * 4, ""),
    Form("cloudant-api-key", "cl_key: ", "abcdefghijklmnopqrstuvwx", ""),
    Form("discord-bot-token", "bot ", "M" + "a1B2c3D4e5F6" * 2 + ".Xy_z-1." + "k" * 27, " ok"),
    Form("github-token", "remote ", "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8", " ok"),
    Form("github-fine-grained-token", "", "github_pat_" + "11ABCDEFG0" * 3, " ok"),
    Form("gitlab-token", "", "glpat-" + "x1y2z3" * 4, " ok"),
    Form("gitlab-runner-registration", "", "GR1348941" + "abc123" * 4, ""),
    Form("gitlab-ci-token", "", "glcbt-64_" + "abc123" * 4, ""),
    Form("gitlab-incoming-mail", "", "glimt-" + "a" * 25, ""),
    Form("gitlab-trigger", "", "glptt-" + "b" * 40, ""),
    Form("gitlab-agent", "", "glagent-" + "c" * 50, ""),
    Form("gitlab-oauth-secret", "", "gloas-" + "d" * 64, ""),
    Form("ibm-cloud-iam-key", "ibm_cloud_iam_key: ", "a" * 22 + "B" * 22, ""),
    Form("ibm-cos-hmac", "cos_hmac_secret_access_key = ", HEX16 * 3, ""),
    Form("jwt", "got ", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl", " end"),
    Form("mailchimp-key", "", HEX16 * 2 + "-us12", ""),
    Form("npm-auth-token", "//registry.npmjs.org/:_authToken=", "npm_abc", ""),
    Form("npm-token", "", "npm_" + "a1B2" * 9, ""),
    Form("openai-key", "", "sk-" + "a" * 20 + "T3BlbkFJ" + "b" * 20, ""),
    Form("openai-project-key", "", "sk-proj-" + "Ab1_" * 6, ""),
    Form("anthropic-key", "", "sk-ant-api03-" + "Ab1-" * 6, ""),
    Form("pypi-token", "", "pypi-AgEIcHlwaS5vcmc" + "A" * 70, ""),
    Form("test-pypi-token", "", "pypi-AgENdGVzdC5weXBpLm9yZw" + "B" * 70, ""),
    Form("sendgrid-key", "", "SG." + "a" * 22 + "." + "b" * 43, ""),
    Form("slack-token", "", "xoxb-123456789012-1234567890123-abcdef123456", ""),
    Form("slack-app-token", "", "xapp-1-A0123456789-1234567890123-abcdef0123", ""),
    Form("slack-webhook", "https://hooks.slack.com/services/", "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", ""),
    Form("softlayer-key", "softlayer_api_key = ", HEX16 * 4, ""),
    Form("softlayer-url", "https://api.softlayer.com/soap/v3.1/", "a1" * 32, ""),
    Form("square-oauth-secret", "", "sq0csp-" + "A1b2_" * 8 + "xyz", ""),
    Form("stripe-key", "", "sk_live_" + "a1B2" * 6, ""),
    Form("telegram-bot-token", "bot ", "123456789:" + "A" * 35, " ok"),
    Form("twilio-account-sid", "", "AC" + HEX16 * 2, ""),
    Form("twilio-api-key", "", "SK" + HEX16 * 2, ""),
    Form("google-api-key", "", "AIza" + "Sy" + "A" * 33, ""),
    Form("vault-token", "", "hvs." + "CAESI" * 5, ""),
    Form("docker-hub-token", "", "dckr_pat_" + "a" * 27, ""),
)

# Ordinary output that must stay as it is: kubectl get/describe/events/-o yaml, digests, UIDs, resourceVersions.
KUBECTL_LINES: tuple[str, ...] = (
    "NAME                   READY   STATUS    RESTARTS   AGE   IP            NODE     NOMINATED NODE   READINESS GATES",
    "web-7d4b9c5f6d-x2x9k   1/1     Running   0          5m    10.244.0.12   node-1   <none>           <none>",
    "deployment.apps/web   3/3     3            3           12d",
    "NAME                  TYPE                                  DATA   AGE",
    "default-token-abcde   kubernetes.io/service-account-token   3      10d",
    "db-credentials        Opaque                                2      3d",
    "Name:             web-7d4b9c5f6d-x2x9k",
    "Service Account:  default",
    "Node:             node-1/10.0.0.5",
    "Labels:           app=web",
    "                  pod-template-hash=7d4b9c5f6d",
    "Annotations:      kubectl.kubernetes.io/restartedAt: 2026-11-18T12:00:00Z",
    "    Container ID:   containerd://4f0c1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
    "    Image:          docker.io/library/nginx:1.25",
    "    Image ID:       docker.io/library/nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
    "      DB_PASSWORD:  <set to the key 'password' in secret 'db-credentials'>  Optional: false",
    "      /var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-xyz12 (ro)",
    "    TokenExpirationSeconds:  3607",
    "    SecretName:  db-credentials",
    "  Normal   Pulled     5m    kubelet  Successfully pulled image \"nginx:1.25\" in 1.2s (1.2s including waiting)",
    "  Warning  FailedMount  2m  kubelet  MountVolume.SetUp failed for volume \"creds\" : secret \"db\" not found",
    "  resourceVersion: \"4815162342\"",
    "  uid: 1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718",
    "  creationTimestamp: \"2026-11-18T12:00:00Z\"",
    "    secret: true",
    "  automountServiceAccountToken: false",
    "        - secretRef:",
    "            name: db-credentials",
    "        - name: DB_HOST",
    "          value: db.internal",
    "          valueFrom:",
    "            secretKeyRef:",
    "              key: password",
    "    image: registry.example/web@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "--- PASS: TestRollout (0.00s)",
    "PWD=/home/operator",
    "OLDPWD=/",
    "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available...",
    "https://kubernetes.default.svc:443/api/v1/namespaces/web/pods?limit=500",
    "  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7d4b9c5f6d, uid: 9a8b7c6d-1234-5678-9abc-def012345678}]",
    "Error from server (NotFound): secrets \"db-credentials\" not found",
    "kubectl create secret generic db-credentials --from-file=./creds",
    "    - --authorization-mode=Node,RBAC",
    "    - --enable-bootstrap-token-auth=true",
    "    - --service-account-key-file=/etc/kubernetes/pki/sa.pub",
    "    - --token-auth-file=/etc/kubernetes/tokens.csv",
    "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
    "      secretName: web-tls",
    "  imagePullSecrets:",
)
