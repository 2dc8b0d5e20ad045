"""GoogleVertexProvider's configuration: URLs per region, the project rules, and laziness.

Construction does no I/O and imports no google-auth; credentials are loaded at the first request,
and every way that can fail is a `UserError` saying what to pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
import respx
from google.oauth2 import credentials as oauth2_credentials

from modelkit.exceptions import UserError
from modelkit.providers import infer_provider
from modelkit.providers.google_vertex import GoogleVertexProvider, vertex_base_url

pytestmark = pytest.mark.anyio

GENERATE = '/models/gemini-2.0-flash:generateContent'
PROJECT_PATH = '/v1/projects/{p}/locations/{r}/publishers/{pub}/models/gemini-2.0-flash:generateContent'


@pytest.mark.parametrize(
    ('region', 'root'),
    [
        ('us-central1', 'https://us-central1-aiplatform.googleapis.com'),
        ('europe-west4', 'https://europe-west4-aiplatform.googleapis.com'),
        ('asia-east1', 'https://asia-east1-aiplatform.googleapis.com'),
        ('global', 'https://aiplatform.googleapis.com'),
    ],
)
def test_region_goes_in_host_and_path(region: str, root: str) -> None:
    provider = GoogleVertexProvider(project_id='my-project', region=region)
    assert provider.base_url == root == vertex_base_url(region)
    request = provider.build_request('POST', GENERATE, b'{}', model_name='gemini-2.0-flash')
    assert request.url == root + PROJECT_PATH.format(p='my-project', r=region, pub='google')


def test_defaults_publisher_and_streaming_path() -> None:
    provider = GoogleVertexProvider(project_id='p', model_publisher='anthropic')
    assert provider.region == 'us-central1'
    stream = provider.build_request(
        'POST', '/models/claude:streamGenerateContent', b'{}', model_name='claude'
    )
    assert stream.url == (
        'https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1'
        '/publishers/anthropic/models/claude:streamGenerateContent'
    )
    # Only model paths are routed under the project.
    assert provider.route('/v1/operations', None) == '/v1/operations'


def test_base_url_replaces_the_root_only() -> None:
    provider = GoogleVertexProvider(project_id='p', base_url='http://127.0.0.1:9/')
    request = provider.build_request('POST', GENERATE, b'{}')
    assert request.url == 'http://127.0.0.1:9' + PROJECT_PATH.format(p='p', r='us-central1', pub='google')


def test_signature_matches_the_page() -> None:
    provider = GoogleVertexProvider(None, None, 'proj', 'asia-east1', 'google', None)
    assert (provider.project_id, provider.region, provider.model_publisher) == (
        'proj',
        'asia-east1',
        'google',
    )
    assert isinstance(infer_provider('google-vertex'), GoogleVertexProvider)
    assert 'proj' in repr(provider)


@pytest.mark.parametrize('region', ['', 'us central1', 'evil.example.com/x', 'US-CENTRAL1', '-x'])
def test_a_region_that_is_no_location_is_refused(region: str) -> None:
    with pytest.raises(UserError, match='region'):
        GoogleVertexProvider(region=region)


def test_one_source_of_credentials() -> None:
    with pytest.raises(UserError, match='service_account_file and service_account_info'):
        GoogleVertexProvider(service_account_file='a.json', service_account_info={'project_id': 'p'})


def test_project_id_that_differs_from_the_keys_is_a_user_error() -> None:
    info = {'type': 'service_account', 'project_id': 'key-project'}
    with pytest.raises(
        UserError, match=r"project_id 'other' differs from the project of the service_account_info"
    ):
        GoogleVertexProvider(service_account_info=info, project_id='other')
    # Agreeing, or leaving it to the key, is fine.
    assert (
        GoogleVertexProvider(service_account_info=info, project_id='key-project').project_id == 'key-project'
    )
    assert GoogleVertexProvider(service_account_info=info).project_id == 'key-project'


def test_project_id_that_differs_from_a_credentials_objects_is_a_user_error() -> None:
    class WithProject(oauth2_credentials.Credentials):  # type: ignore[misc]
        project_id = 'creds-project'

    creds = WithProject(token='ya29.held-by-the-caller')
    with pytest.raises(UserError, match='differs from the project of the credentials'):
        GoogleVertexProvider(credentials=creds, project_id='other')


def test_no_project_anywhere_names_project_id() -> None:
    with pytest.raises(UserError, match='pass project_id'):
        GoogleVertexProvider(service_account_info={'type': 'service_account'})
    with pytest.raises(UserError, match='pass project_id'):
        GoogleVertexProvider(credentials=oauth2_credentials.Credentials(token='ya29.held-by-the-caller'))


def test_construction_does_no_io_and_imports_no_google_auth(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import builtins, importlib.util, sys
        opened = []
        real_open = builtins.open
        builtins.open = lambda *a, **k: (opened.append(a[0]), real_open(*a, **k))[1]
        if importlib.util.find_spec('modelkit.models.gemini') is not None:
            import modelkit.models.gemini
        import modelkit.providers.google_vertex as gv
        gv.GoogleVertexProvider()
        gv.GoogleVertexProvider(service_account_file={str(tmp_path / 'missing.json')!r}, region='global')
        gv.GoogleVertexProvider(service_account_info={{'type': 'service_account', 'project_id': 'p'}})
        gv.GoogleVertexProvider(project_id='p', region='asia-east1')
        loaded = sorted(m for m in sys.modules if m == 'google' or m.startswith(('google.', 'requests')))
        print(loaded, opened)
        """
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == '[] []'


def _no_adc(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Nothing configured: no key file variable, no gcloud credentials, no project variables."""
    for name in (
        'GOOGLE_APPLICATION_CREDENTIALS',
        'GOOGLE_CLOUD_PROJECT',
        'GCLOUD_PROJECT',
        'CLOUDSDK_CORE_PROJECT',
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('CLOUDSDK_CONFIG', str(home))
    monkeypatch.setenv('HOME', str(home))


async def test_adc_with_nothing_configured_fails_at_the_first_request_not_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_adc(monkeypatch, tmp_path)
    provider = GoogleVertexProvider()  # the page: "won't fail until agent.run()"
    request = provider.build_request('POST', GENERATE, b'{}', model_name='gemini-2.0-flash')
    with respx.mock(assert_all_called=False) as router:
        sent = router.route(host='us-central1-aiplatform.googleapis.com').respond(200, json={})
        # Where `requests` is installed google-auth also probes the metadata server, through our
        # transport: here the network guard refuses it at once; the failure must still come quickly.
        router.route().pass_through()
        with anyio.fail_after(20), pytest.raises(UserError) as caught:
            await provider.send(request, model_name='gemini-2.0-flash')
    message = str(caught.value)
    assert 'no Google credentials found' in message
    assert 'service_account_file=' in message
    assert 'gcloud auth application-default login' in message
    assert not sent.called


async def test_a_missing_key_file_fails_at_the_first_request(tmp_path: Path) -> None:
    provider = GoogleVertexProvider(service_account_file=tmp_path / 'missing.json')
    with pytest.raises(UserError, match=r"service_account_file '.*missing\.json' does not exist"):
        await provider.ensure_ready()


async def test_a_file_that_is_no_key_fails_at_the_first_request(tmp_path: Path) -> None:
    path = tmp_path / 'key.json'
    path.write_text(json.dumps({'type': 'service_account', 'project_id': 'p'}))
    with pytest.raises(UserError, match=r'is not a service account key file.*client_email'):
        await GoogleVertexProvider(service_account_file=path).ensure_ready()


async def test_incomplete_service_account_info_names_what_is_missing() -> None:
    provider = GoogleVertexProvider(service_account_info={'type': 'service_account', 'project_id': 'p'})
    with pytest.raises(UserError, match=r'service_account_info is not a service account key.*token_uri'):
        await provider.ensure_ready()


def test_the_base_url_variable_points_it_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('GOOGLE_VERTEX_BASE_URL', 'http://127.0.0.1:8123')
    assert GoogleVertexProvider(project_id='p').base_url == 'http://127.0.0.1:8123'
    assert (
        GoogleVertexProvider(project_id='p', base_url='http://127.0.0.1:9').base_url == 'http://127.0.0.1:9'
    )
