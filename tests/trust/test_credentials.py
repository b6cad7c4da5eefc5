"""Sources behind logins: each kind of profile against a server that demands it."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from arcoforge.demo.dataset import make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.errors import CredentialsError, SourceAccessError, SourceNotFoundError
from arcoforge.recipe import load_recipe
from arcoforge.redact import redact
from arcoforge.run import RunOptions, run_recipe
from tests.helpers import write_recipe
from tests.trust.conftest import PASSWORD, TOKEN, USER
from tests.trust.loginserver import DATA, LOGIN, LoginServer

PROFILES = {"bearer": "token", "basic": "login", "edl": "edl"}


def _recipe(
    server: LoginServer, folder: Path, kind: str, auth: str | None, **outputs: dict
) -> Path:
    sources = {
        "url": server.url(DATA, f"/{kind}/sst.{{time:%Y%m%d}}.nc"),
        "concat": {"time": {"start": "2020-01-01", "end": "2020-01-03", "freq": "D"}},
    }
    if auth:
        sources["auth"] = auth
    return write_recipe(
        folder / f"sst-{kind}", {"sources": sources, "outputs": outputs or {"zarr": {}}}
    )


@pytest.mark.parametrize("kind", sorted(PROFILES))
def test_each_profile_fetches_what_its_server_guards(
    kind: str, login_server: LoginServer, auth_file: Path, tmp_path: Path
) -> None:
    recipe = load_recipe(_recipe(login_server, tmp_path, kind, PROFILES[kind]))
    result = run_recipe(recipe, RunOptions(output=str(tmp_path / "out"), workers=1))
    assert result.zarr is not None
    expected = xr.open_mfdataset(sorted(login_server.root.glob("*.nc")), combine="by_coords")
    with xr.open_zarr(result.zarr.url) as got:
        np.testing.assert_array_equal(got.sst.values, expected.sst.values)
    if kind == "edl":
        # the password went to the login host only; the data host saw the cookie
        to_data = [s for s in login_server.seen if s.host == DATA]
        assert all(s.authorization is None for s in to_data)
        assert any(s.host == LOGIN and s.authorization for s in login_server.seen)
        files = [s for s in to_data if s.path.startswith("/edl/") and s.cookie]
        assert len(files) == 3


def test_without_the_profile_the_server_refuses(
    login_server: LoginServer, auth_file: Path, tmp_path: Path
) -> None:
    recipe = load_recipe(_recipe(login_server, tmp_path, "bearer", None))
    with pytest.raises(SourceAccessError, match="HTTP 401"):
        run_recipe(recipe, RunOptions(output=str(tmp_path / "out"), workers=1))


def test_a_missing_secret_is_named_before_any_request(
    login_server: LoginServer, auth_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_TOKEN")
    recipe = load_recipe(_recipe(login_server, tmp_path, "bearer", "token"))
    with pytest.raises(CredentialsError, match="TEST_TOKEN"):
        run_recipe(recipe, RunOptions(output=str(tmp_path / "out"), workers=1))
    assert login_server.seen == []


def test_an_unknown_profile_lists_the_known_ones(
    login_server: LoginServer, auth_file: Path, tmp_path: Path
) -> None:
    recipe = load_recipe(_recipe(login_server, tmp_path, "bearer", "nope"))
    with pytest.raises(CredentialsError, match=r"profiles there: edl, login, token"):
        run_recipe(recipe, RunOptions(output=str(tmp_path / "out"), workers=1))


def test_references_with_a_login_flow_are_refused_saying_why(
    login_server: LoginServer, auth_file: Path, tmp_path: Path
) -> None:
    folder = _recipe(login_server, tmp_path, "edl", "edl", references={"format": "json"})
    with pytest.raises(CredentialsError, match="cookie") as caught:
        run_recipe(load_recipe(folder), RunOptions(output=str(tmp_path / "out"), workers=1))
    assert "copies work" in str(caught.value)
    assert login_server.seen == []


def test_the_secrets_appear_in_no_file_written_and_no_output(
    login_server: LoginServer, auth_file: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from arcoforge.cli import app

    out = tmp_path / "out"
    outputs = []
    for kind, profile in PROFILES.items():
        folder = _recipe(login_server, tmp_path / "recipes", kind, profile)
        done = CliRunner().invoke(
            app, ["run", str(folder), "-o", str(out), "--catalog", "--workers", "1"]
        )
        assert done.exit_code == 0, done.output
        outputs.append(done.output)
        done = CliRunner().invoke(
            app, ["run", str(folder), "-o", str(out), "--json", "--workers", "1"]
        )
        assert done.exit_code == 0, done.output
        outputs.append(done.output)
    # and a failure: a wrong token must not be echoed either
    os.environ["TEST_TOKEN"] = TOKEN + "-wrong"
    folder = _recipe(login_server, tmp_path / "recipes", "bearer", "token")
    failed = CliRunner().invoke(
        app, ["run", str(folder), "-o", str(tmp_path / "o2"), "--json", "--workers", "1"]
    )
    assert failed.exit_code == 1 and "401" in failed.output
    outputs.append(failed.output)
    os.environ["TEST_TOKEN"] = TOKEN

    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    needles = [TOKEN.encode(), PASSWORD.encode(), basic.encode()]
    secret_files = {auth_file, tmp_path / "netrc"}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in secret_files]
    assert len(written) > 20  # the outputs, catalog, cache, sidecars and manifests are there
    for path in written:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{path} holds a secret"
    for text in outputs:
        for needle in needles:
            assert needle.decode() not in text
    assert json.loads(outputs[1])["outputs"][0]["kind"] == "zarr"


def test_redaction_of_urls_headers_and_registered_secrets() -> None:
    from arcoforge.redact import register_secret

    register_secret("s3cr3t-value-1234")
    text = (
        "https://bob:hunter22@host/a.nc?token=abc123&x=1 "
        "headers {'Authorization': 'Bearer xyz.987'} and s3cr3t-value-1234"
    )
    out = redact(text)
    for secret in ("hunter22", "abc123", "xyz.987", "s3cr3t-value-1234"):
        assert secret not in out
    assert "https://***@host/a.nc?token=***&x=1" in out


def test_a_basic_profile_reaches_the_header_reader_of_virtual_datasets(
    http_server: SourceServer, auth_file: Path, tmp_path: Path
) -> None:
    write_files(make_sst(days=3), http_server.root, steps=1, name="sst.{time:%Y%m%d}.nc")
    http_server.faults.basic_auth = f"{USER}:{PASSWORD}"
    spec = {
        "sources": {
            "url": http_server.url + "/sst.{time:%Y%m%d}.nc",
            "concat": {"time": {"start": "2020-01-01", "end": "2020-01-03", "freq": "D"}},
            "auth": "login",
        },
        "outputs": {"references": {"format": "json"}},
    }
    recipe = load_recipe(write_recipe(tmp_path / "refs", spec))
    result = run_recipe(recipe, RunOptions(output=str(tmp_path / "out"), workers=1))
    assert result.references is not None
    text = Path(result.references.url).read_text()
    assert PASSWORD not in text and base64.b64encode(PASSWORD.encode()).decode() not in text
    http_server.faults.basic_auth = None  # readers bring their own access; here, none needed
    with xr.open_dataset(result.references.url, engine="kerchunk") as got:
        np.testing.assert_array_equal(got.sst.values, make_sst(days=3).sst.values)


def test_a_token_is_not_sent_to_the_host_a_redirect_leads_to(
    login_server: LoginServer, auth_file: Path, tmp_path: Path
) -> None:
    recipe = load_recipe(_recipe(login_server, tmp_path, "hop", "token"))
    with pytest.raises(SourceNotFoundError):
        run_recipe(recipe, RunOptions(output=str(tmp_path / "out"), workers=1))
    to_login = [s for s in login_server.seen if s.host == LOGIN]
    assert to_login and all(s.authorization is None for s in to_login)
    assert any(s.host == DATA and s.authorization == f"Bearer {TOKEN}" for s in login_server.seen)


def test_an_s3_profile_reads_with_the_keys_it_names(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    src = tmp_path / "src"
    write_files(make_sst(days=2), src, steps=1, name="sst.{time:%Y%m%d}.nc")
    for path in sorted(src.glob("*.nc")):
        fs.put_file(str(path), f"{s3_bucket}/{path.name}")
    auth = tmp_path / "auth.yaml"
    auth.write_text("profiles:\n  rp: {kind: s3, key_env: RP_KEY, secret_env: RP_SECRET}\n")
    monkeypatch.setenv("ARCOFORGE_AUTH_FILE", str(auth))
    monkeypatch.setenv("RP_KEY", "rp-key-0f9e8d7c")
    monkeypatch.setenv("RP_SECRET", "rp-secret-6b5a4c3d")
    spec = {
        "sources": {
            "url": f"s3://{s3_bucket}/sst.{{time:%Y%m%d}}.nc",
            "concat": {"time": {"start": "2020-01-01", "end": "2020-01-02", "freq": "D"}},
            "auth": "rp",
        },
        "outputs": {"zarr": {}},
    }
    out = tmp_path / "out"
    result = run_recipe(
        load_recipe(write_recipe(tmp_path / "s3", spec)), RunOptions(output=str(out), workers=1)
    )
    assert result.zarr is not None
    with xr.open_zarr(result.zarr.url) as got:
        np.testing.assert_array_equal(got.sst.values, make_sst(days=2).sst.values)
    for path in out.rglob("*"):
        if path.is_file():
            assert b"rp-secret-6b5a4c3d" not in path.read_bytes()
    monkeypatch.delenv("RP_SECRET")
    with pytest.raises(CredentialsError, match="RP_SECRET"):
        run_recipe(
            load_recipe(write_recipe(tmp_path / "s3", spec)),
            RunOptions(output=str(tmp_path / "o2"), workers=1),
        )
