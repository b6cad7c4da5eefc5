"""Untrusted runs: each refusal happens before any request, and nothing leaves loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcoforge.demo.server import SourceServer
from arcoforge.errors import UntrustedRefusedError
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, run_recipe
from arcoforge.sources.addresses import AddressPolicy, allow_loopback
from tests.helpers import write_recipe
from tests.trust.loginserver import DATA, LOGIN, LoginServer


def _run(folder: Path, tmp_path: Path, **sources: object) -> None:
    spec = {
        "sources": {
            "concat": {"time": {"start": "2020-01-01", "end": "2020-01-02", "freq": "D"}},
            **sources,
        },
        "outputs": {"zarr": {}},
    }
    recipe = load_recipe(write_recipe(folder, spec))
    run_recipe(recipe, RunOptions(output=str(tmp_path / "out"), workers=1, untrusted=True))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///data/sst.{time:%Y%m%d}.nc", "only ftp://, gcs://, gs://, https://, s3://"),
        ("http://data.test/sst.{time:%Y%m%d}.nc", "only ftp://"),
        ("https://private.test/sst.{time:%Y%m%d}.nc", "10.1.2.3, a private address"),
        ("https://meta.test/sst.{time:%Y%m%d}.nc", "169.254.169.254, a cloud metadata service"),
        ("https://127.0.0.1:{port}/sst.{time:%Y%m%d}.nc", "127.0.0.1, a loopback address"),
        ("https://[::1]:{port}/sst.{time:%Y%m%d}.nc", "::1, a loopback address"),
        ("https://100.64.0.7/sst.{time:%Y%m%d}.nc", "a shared (carrier-grade NAT) address"),
        ("https://[::ffff:192.168.0.4]/sst.{time:%Y%m%d}.nc", "192.168.0.4, a private address"),
        ("https://nowhere.test/sst.{time:%Y%m%d}.nc", "does not resolve"),
    ],
)
def test_sources_beyond_public_addresses_are_refused_before_any_request(
    url: str,
    why: str,
    names: dict[str, str],
    http_server: SourceServer,
    tmp_path: Path,
) -> None:
    names.update({"private.test": "10.1.2.3", "meta.test": "169.254.169.254"})
    url = url.replace("{port}", str(http_server.port))
    with pytest.raises(UntrustedRefusedError, match=r"untrusted|resolve") as caught:
        _run(tmp_path / "r", tmp_path, url=url)
    assert why in str(caught.value)
    assert http_server.requests == []


def test_credentials_and_credential_options_are_refused(
    names: dict[str, str], tmp_path: Path
) -> None:
    names["public.test"] = "93.184.216.34"  # a public address: refused earlier, never reached
    url = "https://public.test/sst.{time:%Y%m%d}.nc"
    with pytest.raises(UntrustedRefusedError, match="uses no credentials"):
        _run(tmp_path / "a", tmp_path, url=url, auth="earthdata")
    with pytest.raises(UntrustedRefusedError, match=r"reads anonymously\. Got 'headers'"):
        _run(tmp_path / "b", tmp_path, url=url, storage_options={"headers": {"X": "y"}})


def test_an_s3_endpoint_on_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://10.0.0.9:9000")
    with pytest.raises(UntrustedRefusedError, match=r"10\.0\.0\.9, a private address"):
        _run(tmp_path / "r", tmp_path, url="s3://bucket/sst.{time:%Y%m%d}.nc")


def test_a_redirect_to_a_private_address_is_refused(
    login_server: LoginServer, names: dict[str, str], tmp_path: Path
) -> None:
    names[LOGIN] = "10.9.8.7"  # the data host sends every request there first
    url = login_server.url(DATA, "/edl/sst.{time:%Y%m%d}.nc")
    with allow_loopback(), pytest.raises(UntrustedRefusedError, match=r"10\.9\.8\.7, a private"):
        _run(tmp_path / "r", tmp_path, url=url)
    assert {s.host for s in login_server.seen} == {DATA}


def test_loopback_is_allowed_from_python_only(http_server: SourceServer, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from arcoforge.cli import app
    from arcoforge.demo.dataset import make_sst, write_files

    write_files(make_sst(days=2), http_server.root, steps=1, name="sst.{time:%Y%m%d}.nc")
    url = http_server.url + "/sst.{time:%Y%m%d}.nc"
    folder = tmp_path / "loop"
    with pytest.raises(UntrustedRefusedError):
        _run(folder, tmp_path, url=url)
    args = ["run", str(folder), "-o", str(tmp_path / "o"), "--untrusted", "--workers", "1"]
    refused = CliRunner().invoke(app, args, env={"ARCOFORGE_ALLOW_LOOPBACK": "1"})
    assert refused.exit_code == 1 and "untrusted run reads only" in refused.output
    assert http_server.requests == []
    with allow_loopback():
        done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    # each file fetched whole once (the first one's header is also read by range first)
    assert len([r for r in http_server.requests if r.method == "GET" and r.range is None]) == 2


def test_the_policy_on_addresses() -> None:
    policy = AddressPolicy()
    for ok in ("93.184.216.34", "2606:2800:220:1::1"):
        policy.check_address(ok, url="u")
    for bad in (
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "fe80::1",
        "::1",
        "0.0.0.0",
        "224.0.0.1",
        "::ffff:127.0.0.1",
    ):
        with pytest.raises(UntrustedRefusedError):
            policy.check_address(bad, url="u")
    AddressPolicy(loopback=True).check_address("127.0.0.1", url="u")
    with pytest.raises(UntrustedRefusedError):
        AddressPolicy(loopback=True).check_address("10.0.0.1", url="u")
