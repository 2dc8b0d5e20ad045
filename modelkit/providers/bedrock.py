"""Amazon Bedrock's runtime API: `https://bedrock-runtime.{region}.amazonaws.com`, signed with SigV4.

Nothing is resolved at construction. The first request runs `setup`, which imports botocore (the
`bedrock` extra), resolves the credentials and region in a worker thread, and installs a
`SigV4Signer` (service `bedrock`):

- credentials: the keys passed in; else the `bedrock_client`'s; else botocore's chain (env
  `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, the `AWS_PROFILE` or
  `profile_name` profile of the shared config and credentials files, SSO, assumed roles, container
  and instance metadata). Refreshable ones are refreshed before they expire, in a thread.
- region: `region_name`; else the client's; else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
  `region`. None of these is a `UserError` naming `AWS_REGION`.
- endpoint: `base_url`; else a `bedrock_client` created with its own `endpoint_url`; else
  `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` or `AWS_ENDPOINT_URL` (botocore's names); else the region's.

A `bedrock_client` (boto3's or botocore's `bedrock-runtime` client) is read, never used: its
credentials, region and endpoint; every request goes through modelkit's own transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._transport import DEFAULT_MAX_RETRIES
from ..exceptions import UserError
from . import Provider
from ._auth import env
from ._sigv4 import AWSCredentials, SigV4Signer, credential_cache

if TYPE_CHECKING:
    import httpx

__all__ = ('BEDROCK_SIGNING_NAME', 'BedrockProvider', 'bedrock_runtime_url')

BEDROCK_SIGNING_NAME = 'bedrock'
"""The SigV4 service name of `bedrock-runtime` (its endpoint prefix differs from its signing name)."""

_UNRESOLVED_URL = 'https://bedrock-runtime.<region>.amazonaws.com'
"""The base URL shown before the first request when no region was given or in the environment."""

_NO_REGION = (
    'Bedrock needs an AWS region: pass BedrockProvider(region_name=...), or set AWS_REGION '
    '(or AWS_DEFAULT_REGION, or a region in your AWS profile)'
)
_NO_CREDENTIALS = (
    'Bedrock found no AWS credentials: pass aws_access_key_id and aws_secret_access_key, or set '
    'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE for a profile (SSO, roles and '
    'instance metadata are found too)'
)


def bedrock_runtime_url(region: str) -> str:
    """The public Bedrock runtime endpoint of `region` (the `.cn` domain for China's regions)."""
    suffix = 'amazonaws.com.cn' if region.startswith('cn-') else 'amazonaws.com'
    return f'https://bedrock-runtime.{region}.{suffix}'


class BedrockProvider(Provider):
    """Amazon Bedrock, signed with SigV4; credentials, region and endpoint are found at the first request.

    Pass keys (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`), a `profile_name`,
    or a boto3 `bedrock_client` to read them from; with none, botocore's usual chain applies.
    `base_url` overrides the endpoint (a VPC endpoint, a gateway, the emulator).
    """

    name = 'bedrock'
    # No `api_key_env`: AWS credentials come from botocore's chain, not one key variable.
    base_url_env = 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME'

    def __init__(
        self,
        *,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile_name: str | None = None,
        base_url: str | None = None,
        bedrock_client: Any = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        if (aws_access_key_id is None) != (aws_secret_access_key is None):
            raise UserError('BedrockProvider needs aws_access_key_id and aws_secret_access_key together')
        if aws_session_token is not None and aws_access_key_id is None:
            raise UserError('BedrockProvider got aws_session_token without the key pair it belongs to')
        if bedrock_client is not None and (aws_access_key_id is not None or profile_name is not None):
            raise UserError(
                'BedrockProvider takes either a bedrock_client or credentials (keys, profile_name), not both'
            )
        if bedrock_client is not None and not hasattr(bedrock_client, 'meta'):
            raise UserError(
                'bedrock_client must be a boto3 / botocore bedrock-runtime client, '
                f'not {type(bedrock_client).__name__}'
            )
        self._region: str | None = region_name or _client_region(bedrock_client) or _env_region()
        self._keys = (
            AWSCredentials(aws_access_key_id, aws_secret_access_key, aws_session_token or None)  # type: ignore[arg-type]
            if aws_access_key_id is not None
            else None
        )
        self._profile_name = profile_name
        self._client = bedrock_client
        self._explicit_url = base_url.rstrip('/') if base_url else None
        initial = self._explicit_url or _client_endpoint(bedrock_client) or env(self.base_url_env)
        initial = initial or env('AWS_ENDPOINT_URL')
        if initial is None:
            initial = bedrock_runtime_url(self._region) if self._region else _UNRESOLVED_URL
        super().__init__(name=self.name, base_url=initial, http_client=http_client, max_retries=max_retries)

    @property
    def region(self) -> str | None:
        """The AWS region requests are signed for (None until found, when not given or in the environment)."""
        return self._region

    async def setup(self) -> None:
        """Import botocore, find the credentials and region off the event loop, install the signer."""
        import anyio

        try:
            import botocore.session  # type: ignore[import-untyped]  # noqa: F401  (the bedrock extra)
        except ImportError:
            raise UserError(
                'Bedrock needs botocore for SigV4 and the AWS credential chain: '
                "pip install 'modelkit-wire[bedrock]'"
            ) from None
        credentials, region = await anyio.to_thread.run_sync(self._resolve)
        if region is None:
            raise UserError(_NO_REGION)
        if credentials is None:
            raise UserError(_NO_CREDENTIALS)
        self._region = region
        if self._base_url == _UNRESOLVED_URL:
            self._base_url = bedrock_runtime_url(region)
        self.set_signer(SigV4Signer(credential_cache(credentials), region, BEDROCK_SIGNING_NAME))

    def _resolve(self) -> tuple[Any, str | None]:
        """Credentials and region, by the precedence in the module docstring (blocking: in a thread)."""
        from botocore.credentials import Credentials  # type: ignore[import-untyped]
        from botocore.session import Session

        region = self._region
        if self._client is not None:
            credentials = _client_credentials(self._client)
            if credentials is not None and region is not None:
                return credentials, region
        elif self._keys is not None and region is not None:
            keys = self._keys
            return Credentials(keys.access_key, keys.secret_key, keys.token), region
        session = Session(profile=self._profile_name)
        if self._client is not None:
            credentials = _client_credentials(self._client)
        elif self._keys is not None:
            keys = self._keys
            credentials = Credentials(keys.access_key, keys.secret_key, keys.token)
        else:
            # The whole chain: env, shared files, SSO, assumed roles, container and instance metadata.
            credentials = session.get_credentials()
        if region is None:
            region = session.get_config_variable('region') or None
        return credentials, region

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name={self.name!r}, base_url={self._base_url!r})'


def _env_region() -> str | None:
    # AWS_REGION is what the newer SDKs and Lambda set; botocore itself reads only AWS_DEFAULT_REGION.
    return env('AWS_REGION') or env('AWS_DEFAULT_REGION')


def _client_meta(client: Any, name: str) -> Any:
    meta = getattr(client, 'meta', None)
    value = getattr(meta, name, None)
    return value if isinstance(value, str) and value else None


def _client_region(client: Any) -> str | None:
    return _client_meta(client, 'region_name') if client is not None else None


def _client_endpoint(client: Any) -> str | None:
    if client is None:
        return None
    url = _client_meta(client, 'endpoint_url')
    region = _client_region(client)
    # A client's endpoint is always set; only one it was created with (not the region's default)
    # is an override worth following.
    if url is None or (region is not None and url.rstrip('/') == bedrock_runtime_url(region)):
        return None
    return str(url).rstrip('/')


def _client_credentials(client: Any) -> Any:
    """A botocore client's credentials object (static or refreshable), or None when it has none."""
    getter = getattr(client, '_get_credentials', None)  # botocore's BaseClient; private but stable
    if callable(getter):
        return getter()
    signer = getattr(client, '_request_signer', None)
    return getattr(signer, '_credentials', None)
