"""The secret rules redaction applies: well-known token shapes and values held by secret-looking names.

Each :class:`SecretRule` is a pair of patterns. ``pattern`` (Python ``re``) is exact: group 1, when the pattern has
one, is the text before the secret that stays readable (a variable name, a flag, a URL's scheme and user), and the
rest of the match is the secret. ``prefilter`` (RE2 syntax: no lookarounds, no backreferences) matches wherever
``pattern`` matches, starting at the same place or earlier, so one RE2 pass over a whole batch of output finds the
few places where the exact pattern has to run (see ``redact.py``). ``tests/engine/test_redaction.py`` checks both
halves of that promise for every rule.

The token shapes are ported from detect-secrets 1.5.0 (Yelp, Apache-2.0, https://github.com/Yelp/detect-secrets):
the ``denylist`` patterns of its ``RegexBasedDetector`` plugins in ``detect_secrets/plugins/``. Changes made for
redaction, where masking a little too much is cheap and missing a secret is not: a token is masked to its end
(``{36,255}`` where the detector checks an exact length), the trailing part of a JWT is included, the assignment
forms keep the name, and ``[A-Za-z0-9-_]`` (which in Python is a range up to ``_``) is written as meant. A few shapes
newer than that release are added and marked as such. The name rules and the command-line forms are the console's own.

Every pattern is line-local (it never matches a line end), except the Kubernetes env rule, which spans a ``name:``
line and the ``value:`` line after it (``lines = 2``).
"""

from __future__ import annotations

from dataclasses import dataclass

DETECT_SECRETS = "detect-secrets 1.5.0"


@dataclass(frozen=True)
class SecretRule:
    """One kind of secret: an exact Python pattern, an RE2 prefilter that over-matches it, and where it came from."""

    name: str
    source: str
    pattern: str
    prefilter: str
    lines: int = 1


# -- names that hold secrets ---------------------------------------------------------------------------------------

# What an identifier ends with when its value is a secret: DB_PASSWORD, POSTGRES_PASSWORD, GITHUB_TOKEN,
# AWS_SESSION_TOKEN, client-secret, x-api-key, MYSQL_PWD, DB_PASS, docker's "auth", kubeconfig's client-key-data.
# "pwd" and "pass" count only after a separator (the shell's own PWD=/home/x and words such as "bypass" are not
# secrets), "auth" only as a word of its own ("oauth" is not one).
NAME_SUFFIX = (
    r"(?:pass(?:word|wd|phrase)|(?<=[_.-])(?:pwd|pass)|(?<![A-Za-z0-9])auth|secret|token|credentials?"
    r"|(?:api|access|secret|private|priv|auth|client|service|account|db|database)[_.-]?key|key[_.-]?data)"
)
NAME_SUFFIX_RE2 = (
    r"(?i:pass(?:word|wd|phrase)|pwd|pass|auth|secret|token|credentials?"
    r"|(?:api|access|secret|private|priv|auth|client|service|account|db|database)[_.-]?key|key[_.-]?data)"
)
_IDENT = r"[A-Za-z0-9_.-]{0,128}"  # bounded, so a long line of dashes cannot make a search quadratic

# Where a value ends when it is not quoted (the existing pair rule's set: query strings, JSON, shell words).
_BARE = r"""[^\s"',;&}]+"""
_BARE_END = r"""(?![^\s"',;&}])"""
# Values that are not secrets although a secret-looking name holds them: YAML and JSON literals (a runbook's own
# ``secret: true``), a value starting with a runbook placeholder (the copy of a runbook keeps ``{name}`` so a resumed
# change can fill it in; at run time the placeholder is gone and its value is masked if it is a secret), a shell
# variable ($DB_PASSWORD, ${TOKEN}, $1: the record shows the command that ran, and the variable's value is not there),
# kubectl describe's stand-ins for values it does not show, and what redaction has already masked.
NOT_A_VALUE = (
    r"(?!(?i:true|false|yes|no|null|none|nil|on|off|~)" + _BARE_END + ")"
    r"(?!\{\{?[A-Za-z_][A-Za-z0-9_-]*\}\}?)"
    r"(?!\$(?:[0-9@*#?$!]|\{?[A-Za-z_][A-Za-z0-9_]*\}?)" + _BARE_END + ")"
    r"(?!<(?:set to the key|none>|unset>|nil>))"
    r"(?!\[REDACTED\])"
)
# An opening quote stays with the name when a closing one follows on the line; the value is then what is between.
# Besides plain quotes: a quote escaped inside a JSON string (kubectl's last-applied-configuration annotation, a JSON
# runbook) and shlex's '"'"' (a quote inside a single-quoted word, as a command line is displayed). What redaction
# has masked already stays as it is: redacting twice gives what redacting once gave.
_OPEN_QUOTE = r"""(?:'"'"'(?=[^'\n]*')|\\"(?=[^"\n]*\\")|"(?=[^"\n]*")|'(?=[^'\n]*')|["']?)"""
_VALUE = (
    NOT_A_VALUE
    + r"""(?:(?<=\\")[^"\\\n]+(?=\\")|(?<=")(?:[^"\\\n]|\\.)+(?=")|(?<=')(?!"'"')[^'\n]+(?=')|(?!\\)""" + _BARE + ")"
)
# After "name:" a YAML flow collection, block scalar, anchor, alias, tag or comment is structure, not a value.
_NOT_YAML_INDICATOR = r"(?![{\[|>&*!%@`#])"

NAME_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "name-assignment",
        "name rule: NAME=value, export NAME=value, NAME: value, \"NAME\": \"value\", NAME := value",
        r"(?i)(" + NAME_SUFFIX + r"""(?:\\?["'])?\]?[ \t]*(?:(?:=>|:=|=(?!>))[ \t]*|:(?!=)[ \t]*""" + _NOT_YAML_INDICATOR + ")"
        + _OPEN_QUOTE + ")" + _VALUE,
        NAME_SUFFIX_RE2 + r"""(?:\\?["'])?\]?[ \t]*[=:]""",
    ),
    SecretRule(
        "name-yaml-line",
        "name rule: a YAML or kubectl describe line 'NAME: value with spaces' (the rest of the line)",
        r"(?i)(^[ \t]*(?:-[ \t]+)?[\"']?" + _IDENT + NAME_SUFFIX + r"""["']?[ \t]*:[ \t]+)"""
        + _NOT_YAML_INDICATOR + r"""(?!["'])""" + NOT_A_VALUE + r"\S(?:[^\n]*\S)?",
        r"^[ \t]*(?:-[ \t]+)?[\"']?[A-Za-z0-9_.-]*" + NAME_SUFFIX_RE2 + r"""["']?[ \t]*:[ \t]+[^ \t\n]""",
    ),
    SecretRule(
        "name-flag",
        "name rule: --password x, --token x, -client-secret x (the next word)",
        r"(?i)((?<![A-Za-z0-9_-])--?" + _IDENT + NAME_SUFFIX + r"[ \t]+" + _OPEN_QUOTE + r")(?!-)" + _VALUE,
        r"--?[A-Za-z0-9_.-]*" + NAME_SUFFIX_RE2 + r"[ \t]+[^ \t\n-]",
    ),
    SecretRule(
        "kubernetes-env-pair",
        "name rule: an env entry {\"name\": \"DB_PASSWORD\", \"value\": \"...\"} on one line",
        r"(?i)([\"']?name[\"']?[ \t]*:[ \t]*[\"']?" + _IDENT + NAME_SUFFIX
        + r"""["']?[ \t]*,[ \t]*["']?value["']?[ \t]*:[ \t]*""" + _OPEN_QUOTE + ")" + _VALUE,
        r"""["']?(?i:name)["']?[ \t]*:[ \t]*["']?[A-Za-z0-9_.-]*""" + NAME_SUFFIX_RE2
        + r"""["']?[ \t]*,[ \t]*["']?(?i:value)""",
    ),
    SecretRule(
        "kubernetes-env-lines",
        "name rule: an env entry whose value follows its secret-looking name on the next line (kubectl -o yaml/json)",
        # The value line belongs to the same entry: as indented as the name (JSON, a YAML mapping), or further in
        # under a list item's dash. A `value:` of another, shallower entry after a secret ref's `name:` is not it.
        r"(?i)(^(?P<indent>[ \t]*)(?P<dash>-[ \t]+)?[\"']?name[\"']?[ \t]*:[ \t]*[\"']?" + _IDENT + NAME_SUFFIX
        + r"""["']?,?[ \t]*\r?\n(?P=indent)(?(dash)[ \t]+|)["']?value["']?[ \t]*:[ \t]*""" + _NOT_YAML_INDICATOR
        + _OPEN_QUOTE + ")"
        + NOT_A_VALUE + r"""(?:(?<=")(?:[^"\\\n]|\\.)+(?=")|(?<=')[^'\n]+(?=')|[^\s"'](?:[^\n]*[^\s,])?)""",
        r"""^[ \t]*(?:-[ \t]+)?["']?(?i:name)["']?[ \t]*:[ \t]*["']?[A-Za-z0-9_.-]*""" + NAME_SUFFIX_RE2
        + r"""["']?,?[ \t]*\r?\n[ \t]*["']?(?i:value)["']?[ \t]*:""",
        lines=2,
    ),
)

# -- secrets in command lines ------------------------------------------------------------------------------------

_QUOTED_OR_WORD = r"""(?:(?<=")[^"\n]+(?=")|(?<=')[^'\n]+(?=')|[^\s"';|&]+)"""
MYSQL_COMMANDS = r"(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow|mysqlslap|mysqlbinlog|mysqlpump|mariadb|mariadb-dump|mariadb-admin)"

COMMAND_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "mysql-p",
        "command rule: mysql -pSECRET, -p'SECRET', '-pSECRET' (the password glued to -p)",
        r"((?<![A-Za-z0-9_.-])" + MYSQL_COMMANDS + r"(?![A-Za-z0-9_-])[^\n;|&]*?[ \t](?:'\"'\"')?(?:'-p(?=[^'\n]*')|\"-p(?=[^\"\n]*\")|-p"
        + _OPEN_QUOTE + r"))(?![ \t-])" + NOT_A_VALUE
        + r"""(?:(?<='-p)[^'\n]+(?=')|(?<="-p)[^"\n]+(?=")|(?<=")[^"\n]+(?=")|(?<=')(?!"'"')[^'\n]+(?=')|[^\s"';|&]+)""",
        r"""(?:mysql|mariadb)[^\n;|&]*[ \t](?:'"'"')?['"]?-p[^ \t\n]""",
    ),
    SecretRule(
        "registry-login-p",
        "command rule: docker/podman/helm registry login -p SECRET",
        r"((?<![A-Za-z0-9_.-])(?:docker|podman|nerdctl|buildah|skopeo|oras|helm[ \t]+registry)[ \t]+login\b[^\n;|&]*?"
        r"[ \t]-p[ \t]+" + _OPEN_QUOTE + ")" + NOT_A_VALUE + _QUOTED_OR_WORD,
        r"(?:docker|podman|nerdctl|buildah|skopeo|oras|helm)[ \t]+(?:registry[ \t]+)?login[^\n;|&]*[ \t]-p[ \t]+[^ \t\n]",
    ),
    SecretRule(
        "curl-user",
        "command rule: curl -u user:SECRET, --user user:SECRET",
        r"((?<![A-Za-z0-9_.-])curl(?![A-Za-z0-9_-])[^\n;|&]*?[ \t](?:-u|--user|--proxy-user|-U)(?:[ \t]+|=)?"
        r"""["']?[^\s:"']*:)[^\s"']+""",
        r"curl[^\n;|&]*[ \t](?:-u|--user|--proxy-user|-U)[^\n]*:",
    ),
    SecretRule(
        "pass-flag",
        "command rule: keytool -storepass/-keypass SECRET, openssl -pass/-passin/-passout pass:SECRET",
        r"((?<![A-Za-z0-9_-])-(?:src|dest|new)?(?:store|key)?pass(?:in|out)?[ \t]+" + _OPEN_QUOTE + r"(?:pass:)?+)"
        + NOT_A_VALUE + _QUOTED_OR_WORD,
        r"-(?:src|dest|new)?(?:store|key)?pass(?:in|out)?[ \t]+[^ \t\n]",
    ),
    SecretRule(
        "netrc",
        "command rule: a .netrc line 'machine HOST login USER password SECRET'",
        r"((?<![A-Za-z0-9_-])machine[ \t]+\S+[^\n]*?[ \t]password[ \t]+)\S+",
        r"machine[ \t]+[^\n]*[ \t]password[ \t]+[^ \t\n]",
    ),
    SecretRule(
        "authorization-header",
        "command rule: Authorization: <scheme> SECRET (Basic, Bearer, token, ...)",
        r"""(?i)((?<![A-Za-z0-9_-])(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?(?:[A-Za-z][A-Za-z0-9-]*[ \t]+)?)"""
        r"""(?![ \t])[^\s"',]+""",
        r"""(?i:(?:proxy-)?authorization)["']?[ \t]*[:=]""",
    ),
    SecretRule(
        "bearer",
        "built-in: a bearer token anywhere",
        r"(?i)(\bbearer[ \t]+)[A-Za-z0-9._~+/=-]{8,}",
        r"(?i:\bbearer)[ \t]+[A-Za-z0-9._~+/=-]{8}",
    ),
    SecretRule(
        "url-credentials",
        "name rule and detect-secrets BasicAuthDetector: scheme://user:SECRET@host",
        r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^\s/?#@]+(?:@[^\s/?#@]+)*(?=@)",
        r"(?i:\b[a-z][a-z0-9+.-]*)://[^/\s:@]*:[^\s/?#]*@",
    ),
)


# -- token shapes (detect-secrets) ---------------------------------------------------------------------------------


def _assignment(prefix: str, keyword: str, secret: str, secret_end: str = "") -> tuple[str, str]:
    """detect-secrets' ``RegexBasedDetector.build_assignment_regex``: ``<prefix>(-|_|)<keyword> <assignment> <secret>``.

    Returns the exact pattern (the name and the assignment kept as group 1) and its prefilter.
    """
    body = (
        r"""(?:\[|)(?:"|'|)""" + prefix + r"(?:_|-|)" + keyword + r"""(?:"|'|)(?:\]|)(?: *)(?:=|:|:=|=>| +|::)(?: *)(?:"|'|)"""
    )
    return r"(?i)((?<![A-Za-z0-9_])" + body + ")" + secret + secret_end, "(?i:" + body + secret + ")"


def _shape(name: str, detector: str, pattern: str, prefilter: str | None = None, *, added: bool = False) -> SecretRule:
    source = f"{'added (newer than ' + DETECT_SECRETS + ')' if added else DETECT_SECRETS} {detector}"
    return SecretRule(name, source, pattern, prefilter if prefilter is not None else pattern)


_IBM_PREFIX = r"(?:ibm(?:_|-|)cloud(?:_|-|)iam|cloud(?:_|-|)iam|ibm(?:_|-|)cloud|ibm(?:_|-|)iam|ibm|iam|cloud|)(?:_|-|)(?:api|)"
_CLOUDANT = r"(?:cloudant|cl|clou)"
_SOFTLAYER = r"(?:softlayer|sl)(?:_|-|)(?:api|)"
_COS_PREFIX = r"(?:(?:ibm)?[-_]?cos[-_]?(?:hmac)?|)"

TOKEN_RULES: tuple[SecretRule, ...] = (
    _shape("aws-access-key-id", "AWSKeyDetector",
           r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}"),
    _shape("aws-secret-access-key", "AWSKeyDetector (a 40-character key quoted near aws...key)",
           r"""(?i)(aws.{0,20}?(?:key|pwd|pw|password|pass|token).{0,20}?['"])[0-9a-zA-Z/+]{40}(?=['"])""",
           r"""(?i:aws).{0,20}?(?i:key|pwd|pw|password|pass|token).{0,20}?['"][0-9a-zA-Z/+]{40}['"]"""),
    _shape("aws-secret-access-key-assignment", "AWSKeyDetector (aws_secret_access_key = KEY, unquoted)",
           r"""(?i)(aws_secret_access_key["']?[ \t]*[=:][ \t]*["']?)[A-Za-z0-9/+=]{20,}""",
           r"""(?i:aws_secret_access_key)["']?[ \t]*[=:]"""),
    _shape("artifactory-token", "ArtifactoryDetector (API token)",
           r"""(?<![^\s=:"])AKC[a-zA-Z0-9]{10,}(?![^\s"])""", r"AKC[a-zA-Z0-9]{10}"),
    _shape("artifactory-password", "ArtifactoryDetector (encrypted password)",
           r"""(?<![^\s=:"])AP[0-9ABCDEF][a-zA-Z0-9]{8,}(?![^\s"])""", r"AP[0-9ABCDEF][a-zA-Z0-9]{8}"),
    _shape("azure-storage-key", "AzureStorageKeyDetector",
           r"(AccountKey=)[a-zA-Z0-9+/=]{88}", r"AccountKey=[a-zA-Z0-9+/=]{88}"),
    SecretRule("cloudant-password", f"{DETECT_SECRETS} CloudantDetector",
               *_assignment(_CLOUDANT, r"(?:api|)(?:key|pwd|pw|password|pass|token)", r"[0-9a-f]{64}")),
    SecretRule("cloudant-api-key", f"{DETECT_SECRETS} CloudantDetector",
               *_assignment(_CLOUDANT, r"(?:api|)(?:key|pwd|pw|password|pass|token)", r"[a-z]{24}")),
    _shape("discord-bot-token", "DiscordBotTokenDetector",
           r"[MNO][a-zA-Z0-9_-]{23,25}\.[a-zA-Z0-9_-]{6}\.[a-zA-Z0-9_-]{27,}"),
    _shape("github-token", "GitHubTokenDetector", r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36,255}"),
    _shape("github-fine-grained-token", "GitHub fine-grained personal access token",
           r"github_pat_[A-Za-z0-9_]{22,255}", added=True),
    _shape("gitlab-token", "GitLabTokenDetector (personal, deploy, feed, OAuth, runner)",
           r"(?:glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_-]{20,50}(?![A-Za-z0-9_])",
           r"(?:glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_-]{20}"),
    _shape("gitlab-runner-registration", "GitLabTokenDetector (runner registration)",
           r"GR1348941[A-Za-z0-9_-]{20,50}(?![A-Za-z0-9_])", r"GR1348941[A-Za-z0-9_-]{20}"),
    _shape("gitlab-ci-token", "GitLabTokenDetector (CI/CD job)",
           r"glcbt-(?:[0-9a-fA-F]{2}_)?[A-Za-z0-9_-]{20,50}(?![A-Za-z0-9_])", r"glcbt-[A-Za-z0-9_-]{20}"),
    _shape("gitlab-incoming-mail", "GitLabTokenDetector (incoming mail)",
           r"glimt-[A-Za-z0-9_-]{25}(?![A-Za-z0-9_])", r"glimt-[A-Za-z0-9_-]{25}"),
    _shape("gitlab-trigger", "GitLabTokenDetector (pipeline trigger)",
           r"glptt-[A-Za-z0-9_-]{40}(?![A-Za-z0-9_])", r"glptt-[A-Za-z0-9_-]{40}"),
    _shape("gitlab-agent", "GitLabTokenDetector (agent)",
           r"glagent-[A-Za-z0-9_-]{50,1024}(?![A-Za-z0-9_])", r"glagent-[A-Za-z0-9_-]{50}"),
    _shape("gitlab-oauth-secret", "GitLabTokenDetector (OAuth application secret)",
           r"gloas-[A-Za-z0-9_-]{64}(?![A-Za-z0-9_])", r"gloas-[A-Za-z0-9_-]{64}"),
    SecretRule("ibm-cloud-iam-key", f"{DETECT_SECRETS} IbmCloudIamDetector",
               *_assignment(_IBM_PREFIX, r"(?:key|pwd|password|pass|token)", r"[a-zA-Z0-9_-]{44}", r"(?![a-zA-Z0-9_-])")),
    SecretRule("ibm-cos-hmac", f"{DETECT_SECRETS} IbmCosHmacDetector",
               *_assignment(_COS_PREFIX, r"(?:secret[-_]?(?:access)?[-_]?key)", r"[a-f0-9]{48}", r"(?![a-f0-9])")),
    _shape("jwt", "JwtTokenDetector (masked whole, signature included, without the detector's JSON check)",
           r"eyJ[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+(?:\.[A-Za-z0-9_.+/=-]*)?", r"eyJ[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]"),
    _shape("mailchimp-key", "MailchimpDetector", r"[0-9a-z]{32}-us[0-9]{1,2}"),
    _shape("npm-auth-token", "NpmDetector (.npmrc //registry/:_authToken=)",
           r"(//[^\s]*/:_authToken=[ \t]*)[^\s\"']+", r"//[^\s]*/:_authToken=[ \t]*[^\s\"']"),
    _shape("npm-token", "npm access token", r"npm_[A-Za-z0-9]{36,255}", added=True),
    _shape("openai-key", "OpenAIDetector",
           r"sk-[A-Za-z0-9_-]*[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}", r"sk-[A-Za-z0-9_-]*T3BlbkFJ"),
    _shape("openai-project-key", "OpenAI project, service-account and admin keys",
           r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}", added=True),
    _shape("anthropic-key", "Anthropic API keys", r"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{20,}", added=True),
    _shape("pypi-token", "PypiTokenDetector (pypi.org)", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{70,}",
           r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{70}"),
    _shape("test-pypi-token", "PypiTokenDetector (test.pypi.org)", r"pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{70,}",
           r"pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{70}"),
    _shape("sendgrid-key", "SendGridDetector", r"SG\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9_-]{43}"),
    _shape("slack-token", "SlackDetector (token)", r"(?i)xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+",
           r"(?i:xox[abposr])-[0-9]+-"),
    _shape("slack-app-token", "Slack app-level token", r"xapp-[0-9]+-[A-Za-z0-9]+-[0-9]+-[A-Za-z0-9]+", added=True),
    _shape("slack-webhook", "SlackDetector (webhook; the path after /services/ is the secret)",
           r"(?i)(https://hooks\.slack\.com/services/)T[a-zA-Z0-9_]+/B[a-zA-Z0-9_]+/[a-zA-Z0-9_]+",
           r"(?i:https://hooks\.slack\.com/services/)T[a-zA-Z0-9_]+/B"),
    SecretRule("softlayer-key", f"{DETECT_SECRETS} SoftlayerDetector",
               *_assignment(_SOFTLAYER, r"(?:key|pwd|password|pass|token)", r"[a-z0-9]{64}")),
    _shape("softlayer-url", "SoftlayerDetector (API URL)",
           r"(?i)((?:http|https)://api\.softlayer\.com/soap/(?:v3|v3\.1)/)[a-z0-9]{64}",
           r"(?i:(?:http|https)://api\.softlayer\.com/soap/(?:v3|v3\.1)/[a-z0-9]{64})"),
    _shape("square-oauth-secret", "SquareOAuthDetector", r"sq0csp-[0-9A-Za-z\\_-]{43}"),
    _shape("stripe-key", "StripeDetector (live keys; test keys added)", r"(?:r|s)k_(?:live|test)_[0-9a-zA-Z]{24,}",
           r"[rs]k_(?:live|test)_[0-9a-zA-Z]{24}"),
    _shape("telegram-bot-token", "TelegramBotTokenDetector (anchored to a word, not to the whole line)",
           r"(?<![A-Za-z0-9_:])[0-9]{8,10}:[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])", r"[0-9]{8,10}:[0-9A-Za-z_-]{35}"),
    _shape("twilio-account-sid", "TwilioKeyDetector (account SID)", r"AC[a-z0-9]{32}"),
    _shape("twilio-api-key", "TwilioKeyDetector (API key)", r"SK[a-z0-9]{32}"),
    _shape("google-api-key", "Google API key", r"AIza[0-9A-Za-z_-]{35}", added=True),
    _shape("vault-token", "HashiCorp Vault service and batch tokens", r"hv[sb]\.[A-Za-z0-9_-]{24,}", added=True),
    _shape("docker-hub-token", "Docker Hub personal access token", r"dckr_pat_[A-Za-z0-9_-]{27,}", added=True),
)

RULES: tuple[SecretRule, ...] = NAME_RULES + COMMAND_RULES + TOKEN_RULES

# Private keys (detect-secrets' PrivateKeyDetector): a PEM or PGP armoured block, an SSH2 block, or PuTTY's lines.
# These span lines, so redact.py handles them apart from the table: a whole block in one text, or line by line.
PEM_BEGIN = r"-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}"
PEM_END = r"-{4,5} ?END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}"
PUTTY_PRIVATE_LINES = r"^[ \t]*Private-Lines:[ \t]*([0-9]{1,4})[ \t]*\r?$"
