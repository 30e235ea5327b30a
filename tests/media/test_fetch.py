"""Downloading image URLs: what is refused (SSRF), and the limits, against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from likeness.errors import FetchFailed, InvalidInput, PayloadTooLarge
from likeness.media.fetch import FetchPolicy, check_url, fetch
from tests.conftest import DATA
from tests.web import serving

LOCAL = FetchPolicy(allow_private=True, timeout_s=5)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving(DATA) as base:
        yield base


def test_a_photo_is_downloaded(site: str) -> None:
    data = fetch(f"{site}/faces/obama/obama_1.jpg", LOCAL)
    assert data == (DATA / "faces/obama/obama_1.jpg").read_bytes()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.jpg", "http://localhost:8080/x.jpg", "http://10.1.2.3/x.jpg",
    "http://192.168.0.10/x.jpg", "http://172.16.5.4/x.jpg", "http://169.254.169.254/latest",
    "http://[::1]/x.jpg", "http://[fd00::1]/x.jpg", "http://[::ffff:127.0.0.1]/x.jpg",
    "http://0.0.0.0/x.jpg", "http://100.64.0.1/x.jpg", "http://224.0.0.1/x.jpg",
])
def test_private_loopback_and_link_local_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="refused"):
        check_url(url, FetchPolicy())


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "http or https"), ("ftp://example.com/x.jpg", "http or https"),
    ("gopher://example.com/", "http or https"), ("http:///x.jpg", "no host"),
    ("http://user:pw@example.com/x.jpg", "credentials"), ("not a url", "http or https"),
    ("http://host.invalid/x.jpg", "does not resolve"),
])
def test_other_schemes_and_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_url(url, FetchPolicy())


def test_the_local_test_server_itself_is_refused_by_default(site: str) -> None:
    with pytest.raises(InvalidInput, match="loopback"):
        fetch(f"{site}/faces/obama/obama_1.jpg", FetchPolicy())


def test_redirects_are_followed_and_each_hop_is_checked(site: str) -> None:
    target = f"{site}/faces/biden/biden_2.jpg"
    assert fetch(f"{site}/redirect?to={target}", LOCAL) == (
        DATA / "faces/biden/biden_2.jpg").read_bytes()
    with pytest.raises(InvalidInput, match="http or https"):
        fetch(f"{site}/redirect?to=file:///etc/passwd", LOCAL)
    with pytest.raises(FetchFailed, match="redirects"):
        fetch(f"{site}/loop", LOCAL)


def test_size_limit_with_and_without_content_length(site: str) -> None:
    small = FetchPolicy(allow_private=True, max_bytes=10_000, timeout_s=5)
    with pytest.raises(PayloadTooLarge, match="limit"):
        fetch(f"{site}/faces/obama/obama_1.jpg", small)  # declared too large
    with pytest.raises(PayloadTooLarge, match="limit"):
        fetch(f"{site}/endless", small)  # no length declared: counted while reading


def test_a_slow_server_hits_the_time_limit(site: str) -> None:
    with pytest.raises(FetchFailed, match="did not answer within") as caught:
        fetch(f"{site}/slow", FetchPolicy(allow_private=True, timeout_s=1.5))
    assert caught.value.transient


@pytest.mark.parametrize(("code", "transient"), [(404, False), (403, False), (503, True),
                                                 (429, True)])
def test_error_statuses_say_whether_a_retry_may_help(site: str, code: int,
                                                     transient: bool) -> None:
    with pytest.raises(FetchFailed, match=f"HTTP {code}") as caught:
        fetch(f"{site}/status/{code}", LOCAL)
    assert caught.value.transient is transient


def test_a_closed_port_is_a_transient_failure() -> None:
    with pytest.raises(FetchFailed) as caught:
        fetch("http://127.0.0.1:9/x.jpg", LOCAL)
    assert caught.value.transient
