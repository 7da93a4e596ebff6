"""Which S3 credentials a process uses: the pure rule (hpo.storage.s3 builds the boto3 session).

In order: keys set in the environment (both of them, and the session token when given); else
the embedded stack's per-home keys, when HPO_S3_ENDPOINT is the endpoint that stack serves them
on; else boto3's default chain, untouched, so whatever a team's AWS setup already provides works
(shared config/credentials files and profiles, IRSA / web identity, ECS and EC2 roles, SSO).
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo.contracts.settings import Settings
from hpo.storage.stack_keys import StackKeys


def _names(*fields: str) -> tuple[str, ...]:
    """The environment variables `fields` of Settings are read from (their AliasChoices)."""
    aliases = [getattr(Settings.model_fields[field].validation_alias, "choices", ()) for field in fields]
    return tuple(str(name) for choices in aliases for name in choices)


# The environment variables of the keys (AWS's names and hpo's), and those with the profile's.
KEY_VARIABLES = _names("s3_access_key", "s3_secret_key", "s3_session_token")
VARIABLES = KEY_VARIABLES + _names("s3_profile")

STATIC_KEYS = "static keys"
STACK_KEYS = "hpo up's per-home keys"
CHAIN = "boto3's default chain"

# What `hpo check` and a failed preflight say when the chain found nothing either.
NO_CREDENTIALS = (
    "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN "
    "for temporary keys), or AWS_PROFILE for a profile of ~/.aws/credentials or ~/.aws/config, or "
    "run where an IAM role reaches the process (IRSA / workload identity: AWS_ROLE_ARN and "
    "AWS_WEB_IDENTITY_TOKEN_FILE; an ECS task or EC2 instance role). For the embedded stack, set "
    "HPO_HOME to the directory `hpo up` runs in (its keys are in s3-credentials.json there) and "
    "HPO_S3_ENDPOINT to its endpoint"
)


class CredentialsProblem(ValueError):
    """The S3 credential settings contradict each other (one key without the other)."""


@dataclass(frozen=True)
class CredentialChoice:
    origin: str  # STATIC_KEYS, STACK_KEYS or CHAIN
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None  # for the chain only: keys win over a profile, as in boto3


def choose(settings: Settings, stack_keys: StackKeys | None) -> CredentialChoice:
    """The credentials for `settings`, given the keys of the stack in settings.home (if any)."""
    access = settings.s3_access_key or None
    secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
    token = settings.s3_session_token.get_secret_value() if settings.s3_session_token else None
    if bool(access) != bool(secret):
        given, missing = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if access
            else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        raise CredentialsProblem(
            f"S3 credentials: {given} is set but {missing} is not (or HPO_S3_ACCESS_KEY / HPO_S3_SECRET_KEY, "
            "the same pair under hpo's names); set both for static keys, or neither to use the "
            "embedded stack's keys or boto3's chain (AWS_PROFILE, IRSA, an instance role)"
        )
    if access and secret:
        return CredentialChoice(STATIC_KEYS, access, secret, token or None)
    if token:
        raise CredentialsProblem(
            "S3 credentials: AWS_SESSION_TOKEN (or HPO_S3_SESSION_TOKEN) is set without AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY; a session token belongs to temporary keys, so set all three, "
            "or unset it to use a profile or a role"
        )
    if stack_keys is not None and stack_keys.serves(settings.s3_endpoint):
        return CredentialChoice(STACK_KEYS, stack_keys.access_key, stack_keys.secret_key)
    return CredentialChoice(CHAIN, profile=settings.s3_profile or None)


def masked(access_key: str) -> str:
    """An access key id as `hpo check` prints it: enough to tell keys apart, not to use one."""
    return f"{access_key[:4]}****"
