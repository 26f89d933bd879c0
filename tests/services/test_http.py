import io
import ipaddress
import time

import pytest
import requests
import urllib3
from werkzeug import Response

from app.services.egress import EgressPolicy, EgressRefused, refused_address
from app.services.http import (
    ApiError,
    HttpClient,
    LeakyBucketThrottle,
    RequestStats,
    SystemErrors,
    backoff_delay,
    build_session,
    excerpt,
)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_throttle_limits_concurrency_by_headroom():
    clock = FakeClock()
    throttle = LeakyBucketThrottle(max_concurrency=10, capacity=700, upfront=50, reserve=100, clock=clock)
    for _ in range(10):  # a full bucket of headroom allows the maximum
        throttle.acquire(timeout=0)
    assert throttle.in_flight == 10
    for _ in range(10):
        throttle.release(remaining=150)  # the server reports little headroom
    throttle.acquire(timeout=0)  # one request is always allowed
    with pytest.raises(TimeoutError):
        throttle.acquire(timeout=0)
    clock.now += 10  # the bucket drains 10 units/s
    throttle.acquire(timeout=0)
    assert throttle.in_flight == 2


def test_throttled_pauses_everyone():
    clock = FakeClock()
    throttle = LeakyBucketThrottle(clock=clock)
    throttle.throttled(2.0)
    with pytest.raises(TimeoutError):
        throttle.acquire(timeout=0)
    clock.now += 2.0
    throttle.acquire(timeout=0)


def test_backoff_honours_retry_after_and_caps():
    assert backoff_delay(1, retry_after="3") == 3.0
    assert backoff_delay(1, retry_after="999", cap=30) == 30
    assert 0 <= backoff_delay(10, base=0.5, cap=4) <= 4


class DemoError(ApiError):
    system = "Demo"


class DemoUnavailable(DemoError):
    retriable = True


def _demo_errors():
    return SystemErrors(name="Demo", base=DemoError, unavailable=DemoUnavailable,
                        throttled=lambda status=None: DemoUnavailable("Demo kept throttling.", status=status),
                        bad_response=DemoError,
                        error_for=lambda r: DemoError(f"Demo refused ({r.status_code}).", status=r.status_code))


def _client(server, **kwargs):
    stats = kwargs.pop("stats", RequestStats())
    policy = kwargs.pop("policy", EgressPolicy())
    session = build_session(stats=stats, policy=policy)
    return HttpClient(session, _demo_errors(), [server.url_for("/")], stats=stats, backoff_factor=0.01, **kwargs)


def test_client_retries_5xx_and_counts(httpserver):
    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        return Response("busy", status=503) if calls["n"] < 3 else Response("{}", content_type="application/json")

    httpserver.expect_request("/flaky").respond_with_handler(handler)
    client = _client(httpserver)
    assert client.request("GET", httpserver.url_for("/flaky")).json() == {}
    assert calls["n"] == 3
    assert client.stats.retries == 2 and client.stats.requests == 3


def test_client_honours_retry_after_on_429_and_counts_it(httpserver):
    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        if calls["n"] == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response("ok")

    httpserver.expect_request("/limited").respond_with_handler(handler)
    client = _client(httpserver)
    started = time.monotonic()
    assert client.request("GET", httpserver.url_for("/limited")).text == "ok"
    assert time.monotonic() - started >= 0.9
    assert client.stats.throttles == 1


def test_client_follows_same_origin_redirects_only(httpserver):
    httpserver.expect_request("/old").respond_with_response(Response("", status=302, headers={"Location": "/new"}))
    httpserver.expect_request("/new").respond_with_data("moved")
    httpserver.expect_request("/away").respond_with_response(
        Response("", status=302, headers={"Location": "http://127.0.0.2:9/steal"}))
    client = _client(httpserver)
    assert client.request("GET", httpserver.url_for("/old")).text == "moved"
    with pytest.raises(DemoError) as caught:
        client.request("GET", httpserver.url_for("/away"))
    assert caught.value.refusal == "redirect" and not caught.value.retriable
    with pytest.raises(DemoError) as other:
        client.request("GET", "http://127.0.0.2:9/elsewhere")
    assert other.value.refusal == "origin"


def test_client_bounds_the_body(httpserver):
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with pytest.raises(DemoError) as caught:
        _client(httpserver, max_body_bytes=4096).request("GET", httpserver.url_for("/big"))
    assert caught.value.refusal == "too_large"
    assert "too large" in caught.value.message


def test_policy_refuses_loopback_at_connect_time(httpserver):
    httpserver.expect_request("/secret").respond_with_data("internal")
    policy = EgressPolicy(allow_private=False)
    client = _client(httpserver, policy=policy)
    with pytest.raises(DemoError) as caught:
        client.request("GET", httpserver.url_for("/secret"))
    assert caught.value.refusal == "egress"
    assert httpserver.log == []  # the internal server received nothing
    allowed = _client(httpserver, policy=EgressPolicy(allow_private=False, allow_hosts=frozenset({"localhost"})))
    assert allowed.request("GET", httpserver.url_for("/secret")).text == "internal"


@pytest.mark.parametrize("address, refused", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("224.0.0.1", True), ("240.0.0.1", True),
    ("0.0.0.0", True), ("::1", True), ("::", True), ("fe80::1", True), ("fc00::1", True),
    ("::ffff:127.0.0.1", True), ("64:ff9b::7f00:1", True), ("2002:7f00:1::", True), ("ff02::1", True),
    ("8.8.8.8", False), ("2606:4700::1111", False), ("64:ff9b::808:808", False),
])
def test_refused_addresses(address, refused):
    assert refused_address(ipaddress.ip_address(address)) is refused


def test_policy_from_config():
    policy = EgressPolicy.from_config({"ALLOW_PRIVATE_CANVAS_URLS": False, "REQUIRE_HTTPS_CANVAS_URLS": True,
                                       "OUTBOUND_ALLOW_HOSTS": "canvas.internal, Lms.Local"})
    assert policy.checks_addresses and policy.allow_hosts == {"canvas.internal", "lms.local"}
    with pytest.raises(EgressRefused):
        policy.check_url("http://canvas.example")
    policy.check_url("https://canvas.example")


def test_excerpt_is_bounded_and_redacted():
    text = excerpt("error " * 500 + "oauth_signature=abc")
    assert len(text) <= 200
    assert "secret" not in excerpt("bad request; client_secret=xyz")
    assert excerpt(b"\xff\xfe broken") .endswith("broken")


def test_session_pool_sizes():
    adapter = build_session().get_adapter("http://x")
    assert adapter._pool_connections == 10 and adapter._pool_maxsize == 20
    with pytest.raises(requests.exceptions.ConnectionError):
        build_session(total_retries=0).get("http://127.0.0.1:1/", timeout=1)


def test_session_reads_proxy_environment_once_per_host(monkeypatch):
    session = build_session()
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    first = session.merge_environment_settings("http://canvas.example/api/v1/courses", {}, None, None, None)
    assert first["proxies"].get("http") == "http://proxy.invalid:3128"
    local = session.merge_environment_settings("http://127.0.0.1:5000/api/v1/courses", {}, None, None, None)
    assert "http" not in local["proxies"]  # no_proxy still applies, per host
    monkeypatch.delenv("HTTP_PROXY")
    again = session.merge_environment_settings("http://canvas.example/api/v1/users/self", {}, None, None, None)
    assert again == first  # read once for the host, not per request
    explicit = session.merge_environment_settings("http://canvas.example/x", {"http": "http://other.invalid"},
                                                  None, None, None)
    assert explicit["proxies"]["http"] == "http://other.invalid"  # explicit settings bypass the cache


class CannedAdapter(requests.adapters.BaseAdapter):
    """Answers every request with one canned response (for an https origin no test server has)."""

    def __init__(self, status: int, headers: dict):
        super().__init__()
        self.status, self.headers, self.sent = status, headers, []

    def send(self, request, **kwargs):
        self.sent.append(request.url)
        raw = urllib3.HTTPResponse(body=io.BytesIO(b""), headers=self.headers, status=self.status,
                                   preload_content=False)
        response = requests.adapters.HTTPAdapter().build_response(request, raw)
        return response

    def close(self):
        return None


def test_a_redirect_from_https_to_http_is_never_followed():
    session = build_session(policy=EgressPolicy())
    canned = CannedAdapter(302, {"Location": "http://canvas.example/api/v1/users/self", "Content-Length": "0"})
    session.mount("https://", canned)
    client = HttpClient(session, _demo_errors(), ["https://canvas.example"])
    with pytest.raises(DemoError) as caught:
        client.request("GET", "https://canvas.example/api/v1/users/self")
    assert caught.value.refusal == "redirect" and "from https to plain http" in caught.value.message
    assert canned.sent == ["https://canvas.example/api/v1/users/self"]


def test_a_netrc_file_never_adds_credentials(httpserver, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password from-the-netrc\nmachine localhost login someone "
                     "password from-the-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    seen = []

    def handler(request):
        seen.append(request.headers.get("Authorization"))
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/who").respond_with_handler(handler)
    assert requests.get(httpserver.url_for("/who")).ok and seen == [requests.auth._basic_auth_str(
        "someone", "from-the-netrc")]  # plain requests would send it
    client = _client(httpserver)
    client.request("GET", httpserver.url_for("/who"))
    client.request("GET", httpserver.url_for("/who"), headers={"Authorization": "Bearer ours"})
    assert seen[1:] == [None, "Bearer ours"]
