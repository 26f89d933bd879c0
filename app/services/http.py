"""The one outbound HTTP path for every external system.

Every call to Canvas, Discourse, Google Classroom, Schoology and the alert webhook goes
through `HttpClient.request`: pooling, timeouts and a total deadline, a bounded body read,
retries of 5xx and waits on throttling (with `Retry-After`, counted in `RequestStats`),
redirects kept on the configured origin, transport errors mapped to the system's own
plain-words errors, and the egress policy checked on the address each socket connects to.
The system clients keep their typed calls and their status-to-error mapping.

What no library does for us is written here and kept small:

* `RequestStats`: requests, retries, throttles and bytes of one run, for its summary;
* the egress policy (app/services/egress.py) mounted on every session it builds;
* `LeakyBucketThrottle`: mirrors Canvas's per-token leaky bucket from the
  `X-Rate-Limit-Remaining` header so we lower concurrency *before* Canvas says no;
  `PauseThrottle`: a shared pause for systems that only say "wait N seconds".
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
import requests.auth
import urllib3
from urllib3.util.retry import Retry

from app.services.egress import EgressPolicy, EgressRefused, PolicyAdapter, app_setting, default_policy, origin_of

log = logging.getLogger(__name__)

POOL_CONNECTIONS = 10
POOL_MAXSIZE = 20
RETRY_STATUSES = (500, 502, 503, 504)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_REDIRECTS = 5
MAX_BODY_BYTES = 24 * 1024 * 1024
READ_CHUNK = 1024 * 1024
DEFAULT_DEADLINE_S = 120.0


# -- one error vocabulary -------------------------------------------------------------------

class ApiError(Exception):
    """Base of every external system's errors.

    `message` is a plain sentence safe to show a user (it never holds a credential or an
    upstream body); `retriable` says whether trying again later can help; `refusal` names
    what the shared client refused ("egress", "redirect", "origin", "too_large",
    "deadline", "pages"), None for the system's own answers.
    """

    system = "the service"
    retriable = False
    kind = "other"

    def __init__(self, message: str, *, status: int | None = None, retriable: bool | None = None,
                 refusal: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.refusal = refusal
        if retriable is not None:
            self.retriable = retriable


@dataclass(frozen=True)
class SystemErrors:
    """How one system's client names the failures the shared client finds.

    `base` is the system's ApiError subclass (refusals are raised as it, not retriable);
    `unavailable` (retriable), `throttled` and `bad_response` build the system's own
    classes; `error_for` maps an HTTP error answer to the system's error.
    """

    name: str
    base: type[ApiError]
    unavailable: Callable[..., ApiError]
    throttled: Callable[..., ApiError]
    bad_response: Callable[..., ApiError]
    error_for: Callable[[requests.Response], ApiError]
    over_time: Callable[..., ApiError] | None = None

    def refused(self, message: str, refusal: str) -> ApiError:
        return self.base(message, retriable=False, refusal=refusal)

    def run_over(self, limit_s: float) -> ApiError:
        message = (f"The sync ran longer than its limit ({limit_s:g} s) and was stopped; "
                   "the next run starts normally.")
        if self.over_time is not None:
            return self.over_time(message)
        return self.refused(message, "run_time")


def excerpt(text: str | bytes | None, limit: int = 200) -> str:
    """A bounded, single-line excerpt of an upstream body for the log (never for a user)."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", "replace")
    text = " ".join(text[: limit * 2].split())
    for marker in ("oauth_signature", "access_token", "api_key", "Bearer ", "password", "secret"):
        at = text.find(marker)
        if at >= 0:
            text = text[:at] + "[redacted]"
    return text[:limit]


# -- egress policy ----------------------------------------------------------------------------

@dataclass
class RequestStats:
    """One run's requests, for its summary, and the run's time limit (every client of the
    run shares this object, so past `run_deadline` none of them sends another request)."""

    requests: int = 0
    retries: int = 0
    throttles: int = 0
    bytes: int = 0
    run_deadline: float | None = field(default=None, repr=False, compare=False)
    run_limit_s: float | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def limit_run(self, seconds: float | None) -> None:
        """From now, the run may take `seconds` (None or 0: no limit)."""
        self.run_limit_s = seconds or None
        self.run_deadline = time.monotonic() + seconds if seconds else None

    def add(self, *, requests: int = 0, retries: int = 0, throttles: int = 0, bytes: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttles += throttles
            self.bytes += bytes

    def as_dict(self) -> dict:
        return {"requests": self.requests, "retries": self.retries, "throttles": self.throttles, "bytes": self.bytes}


class CountingRetry(Retry):
    """urllib3 Retry that reports each retry (and each 429) to a RequestStats."""

    def __init__(self, *args, stats: RequestStats | None = None, **kwargs):
        self.stats = stats
        super().__init__(*args, **kwargs)

    def new(self, **kwargs):
        retry = super().new(**kwargs)
        retry.stats = self.stats
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if self.stats is not None:
            self.stats.add(requests=1, retries=1, throttles=1 if response is not None and response.status == 429 else 0)
        return super().increment(method, url, response, error, _pool, _stacktrace)


class EnvOnceSession(requests.Session):
    """A requests.Session that reads the environment (proxies, no_proxy, CA bundle) once per
    scheme and host instead of on every request.

    requests walks every environment variable twice per request for proxy settings: 0.16 ms
    of CPU a request here (timeit, 35 variables), ~10% of what the client spends on one.
    A process's environment does not change while it syncs; a session is made per sync.
    """

    def __init__(self):
        super().__init__()
        self._environment: dict = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies or verify is not None or cert is not None or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = urlsplit(url)[:2]
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, {}, None, None, None)
        return {**settings, "stream": stream, "proxies": dict(settings["proxies"])}


class OwnAuthOnly(requests.auth.AuthBase):
    """A session's default auth: nothing, so requests never reads credentials from a ~/.netrc.

    Without one, requests looks for a netrc file (two stat calls) on every request that has
    no auth of its own, and would send whatever it found for the host. A client's own auth
    (HttpClient's `auth`) still takes precedence on each request.
    """

    def __call__(self, request):
        return request


def build_session(
    *,
    stats: RequestStats | None = None,
    total_retries: int = 5,
    backoff_factor: float = 0.5,
    backoff_max: float = 30.0,
    headers: dict | None = None,
    policy: EgressPolicy | None = None,
) -> requests.Session:
    """A pooled session (10 pools, 20 connections each) that retries connection errors only.

    Status retries, throttling and redirects belong to `HttpClient`, so every attempt is
    counted, re-signed when the system signs requests, and checked against the origin.
    Sockets connect through `policy` (the app's, from its config, when not given).
    """
    retry = CountingRetry(
        total=total_retries,
        connect=total_retries,
        read=0,  # read failures are retried by HttpClient, within the request's deadline
        status=0,
        status_forcelist=(),
        respect_retry_after_header=False,  # urllib3 would sleep out a 429 itself, uncounted
        redirect=False,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        backoff_jitter=backoff_factor,
        raise_on_status=False,
        raise_on_redirect=False,
        allowed_methods=IDEMPOTENT,
        stats=stats,
    )
    adapter = PolicyAdapter(policy or default_policy(), pool_connections=POOL_CONNECTIONS,
                            pool_maxsize=POOL_MAXSIZE, max_retries=retry)
    session = EnvOnceSession()
    session.auth = OwnAuthOnly()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": "CanvasFlow/1.0", "Accept": "application/json"})
    if headers:
        session.headers.update(headers)
    return session


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 30.0, retry_after: str | None = None) -> float:
    """Seconds to wait before retry `attempt` (1-based): Retry-After when given, else full jitter."""
    if retry_after:
        try:
            return min(cap, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return random.uniform(0, min(cap, base * 2 ** attempt))


# -- throttles --------------------------------------------------------------------------------

class PauseThrottle:
    """A shared pause: when the server says "wait", every thread of the client waits."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._paused_until = 0.0

    def acquire(self, timeout: float = 300.0) -> None:
        deadline = self._clock() + timeout
        while True:
            with self._lock:
                remaining = self._paused_until - self._clock()
            if remaining <= 0:
                return
            if self._clock() + remaining > deadline:
                raise TimeoutError("waited too long for the server's pause to end")
            self._sleep(remaining)

    def release(self, remaining: float | None = None) -> None:
        return None

    def throttled(self, pause_s: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + pause_s)


class LeakyBucketThrottle:
    """Client-side mirror of a leaky-bucket rate limit (Canvas: mark 700, 50 up front, 10/s out).

    Each response's `X-Rate-Limit-Remaining` resets our estimate of headroom; every request
    we send takes `upfront` units of it until it finishes, and the bucket drains at
    `outflow` units per second in between. A request is released only while the estimate
    keeps `reserve` units spare, so concurrency falls as the bucket fills. One request
    is always allowed in flight: Canvas never throttles a lone request in practice.
    """

    def __init__(self, *, max_concurrency: int = 10, capacity: float = 700.0, upfront: float = 50.0,
                 outflow: float = 10.0, reserve: float = 100.0, clock=time.monotonic):
        self.max_concurrency = max_concurrency
        self.capacity = capacity
        self.upfront = upfront
        self.outflow = outflow
        self.reserve = reserve
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._remaining = capacity
        self._seen_at = clock()
        self._paused_until = 0.0

    def _headroom(self, now: float) -> float:
        drained = self._remaining + self.outflow * (now - self._seen_at)
        return min(self.capacity, drained) - self._in_flight * self.upfront

    def _admissible(self, now: float) -> int:
        """How many more requests may start now."""
        if now < self._paused_until:
            return 0
        if self._in_flight == 0:
            return 1
        by_headroom = int((self._headroom(now) - self.reserve) // self.upfront)
        return max(0, min(self.max_concurrency - self._in_flight, by_headroom))

    def acquire(self, timeout: float = 300.0) -> None:
        deadline = self._clock() + timeout
        with self._cond:
            while True:
                now = self._clock()
                if self._admissible(now) > 0:
                    self._in_flight += 1
                    return
                if now >= deadline:
                    raise TimeoutError("waited too long for rate-limit headroom")
                # While the bucket drains (or a pause runs out) time alone can admit us: re-check
                # every 50 ms. With the estimate at capacity only a release can, and it notifies.
                drains = now < self._paused_until or (
                    self._remaining + self.outflow * (now - self._seen_at) < self.capacity)
                self._cond.wait(timeout=min(0.05 if drains else 1.0, max(0.001, deadline - now)))

    def release(self, remaining: float | None = None) -> None:
        with self._cond:
            self._in_flight -= 1
            if remaining is not None:
                # The reading already counts the other requests in flight at the server.
                self._remaining = remaining + self._in_flight * self.upfront
                self._seen_at = self._clock()
            # Wake only as many waiters as may start (a sync has dozens of fetching threads:
            # waking all of them on every response cost CPU and GIL hand-offs); the others
            # re-check on their own within 50 ms as the bucket drains.
            self._cond.notify(max(1, self._admissible(self._clock())))

    def throttled(self, pause_s: float) -> None:
        """The server said no: stop sending for `pause_s` and assume an empty bucket."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + pause_s)
            self._remaining = 0.0
            self._seen_at = self._clock()
            self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight


# -- the one request path ---------------------------------------------------------------------

class HttpClient:
    """One system's outbound calls: `request()` is the only way out.

    `origins` are the scheme://host[:port] a client may call (the configured base URL, and
    for Google the reports host); the session's credentials never go anywhere else, and a
    redirect or a page link to another origin is refused. Redirects are followed by hand,
    same origin only (http -> https of the same host allowed), never https -> http.
    """

    def __init__(self, session: requests.Session, errors: SystemErrors, origins: Iterable[str], *,
                 stats: RequestStats | None = None, timeout: float = 30.0, connect_timeout: float = 5.0,
                 deadline_s: float | None = None, max_body_bytes: int | None = None,
                 max_retries: int | None = None, max_throttle_waits: int | None = None,
                 backoff_factor: float | None = None,
                 backoff_max: float = 30.0, throttle=None, rate_limit_header: str | None = None,
                 is_throttled: Callable[[requests.Response], bool] | None = None,
                 throttle_wait: Callable[[requests.Response], float | None] | None = None,
                 auth=None, sleep=time.sleep, policy: EgressPolicy | None = None):
        self.session = session
        self.errors = errors
        self.origins = tuple(dict.fromkeys(origin_of(o) for o in origins))
        # Plain prefix tests on the hot path: every URL we build starts with one of these.
        self._prefixes = tuple(o + "/" for o in self.origins)
        self.policy = policy or _session_policy(session)
        self._origins_checked = False  # on the first request, so building a client never raises
        transport = _session_retry(session)
        self.stats = stats or getattr(transport, "stats", None) or RequestStats()
        self.read_timeout, self.connect_timeout = timeout, connect_timeout
        self.deadline_s = deadline_s or float(app_setting("OUTBOUND_DEADLINE_S", DEFAULT_DEADLINE_S))
        self.max_body_bytes = max_body_bytes or int(app_setting("OUTBOUND_MAX_BODY_BYTES", MAX_BODY_BYTES))
        # Unless told, retry as patiently as the session was built to (its callers configure it).
        if max_retries is None:
            max_retries = transport.total if transport is not None and isinstance(transport.total, int) else 5
        if backoff_factor is None:
            backoff_factor = transport.backoff_factor if transport is not None else 0.5
        self.max_retries = max_retries
        self.max_throttle_waits = max_retries if max_throttle_waits is None else max_throttle_waits
        self.backoff_factor, self.backoff_max = backoff_factor, backoff_max
        self.throttle = throttle or PauseThrottle()
        self.rate_limit_header = rate_limit_header
        self.is_throttled = is_throttled or (lambda response: response.status_code == 429)
        self.throttle_wait = throttle_wait
        self.auth = auth
        self._sleep = sleep

    # -- origins ------------------------------------------------------------------------

    def check_link(self, url: str, what: str) -> str:
        """`url` if it is on one of this client's origins, else a refusal naming `what`."""
        if url.startswith(self._prefixes) or origin_of(url) in self.origins:
            return url
        raise self.errors.refused(f"{self.errors.name}'s {what} points at another address; not following it.",
                                  "origin")

    def _check_policy(self, url: str) -> None:
        try:
            self.policy.check_url(url)
        except EgressRefused as exc:
            raise self.errors.refused(f"{self.errors.name} cannot be called here: {exc}.", "egress") from None

    # -- one request ----------------------------------------------------------------------

    def request(self, method: str, url: str, *, what: str | None = None, **kwargs) -> requests.Response:
        """Send, retrying what can be retried; the response has its body read (bounded) and
        a status below 300, or the system's error is raised."""
        if not self._origins_checked:
            for origin in self.origins:
                self._check_policy(origin)
            self._origins_checked = True
        if not url.startswith(self._prefixes):
            self.check_link(url, "address")
        deadline = time.monotonic() + self.deadline_s
        run_deadline = self.stats.run_deadline
        if run_deadline is not None:
            if time.monotonic() >= run_deadline:
                raise self.errors.run_over(self.stats.run_limit_s or 0)
            deadline = min(deadline, run_deadline)
        retries = throttles = redirects = 0
        what = what or url_path(url)
        while True:
            response = self._send(method, url, deadline, what, kwargs)
            status = response.status_code
            if status < 300:
                return response
            if status in REDIRECT_STATUSES:
                redirects += 1
                url = self._redirect_target(response, url, redirects, what)
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, kwargs = "GET", {k: v for k, v in kwargs.items() if k not in ("json", "data")}
                kwargs.pop("params", None)  # the Location carries its own query
                continue
            if self.is_throttled(response):
                throttles += 1
                self.stats.add(throttles=1)
                wait = self.throttle_wait(response) if self.throttle_wait else None
                if wait is None:
                    wait = backoff_delay(throttles, base=self.backoff_factor, cap=self.backoff_max,
                                         retry_after=response.headers.get("Retry-After"))
                wait = min(wait, self.backoff_max) + random.uniform(0, 0.05)
                if throttles > self.max_throttle_waits or time.monotonic() + wait > deadline:
                    raise self.errors.throttled(status)
                self.stats.add(retries=1)
                log.info("event=http_throttled system=%s path=%s status=%d wait_s=%.2f", self.errors.name, what,
                         status, wait)
                self.throttle.throttled(wait)
                continue
            if status in RETRY_STATUSES and method in IDEMPOTENT and retries < self.max_retries:
                retries += 1
                wait = backoff_delay(retries, base=self.backoff_factor, cap=self.backoff_max,
                                     retry_after=response.headers.get("Retry-After"))
                if time.monotonic() + wait < deadline:
                    self.stats.add(retries=1)
                    log.info("event=http_retry system=%s path=%s status=%d wait_s=%.2f", self.errors.name, what,
                             status, wait)
                    self._sleep(wait)
                    continue
            if status >= 400:
                log.info("event=http_error system=%s path=%s status=%d body=%r", self.errors.name, what, status,
                         excerpt(response.content))
                raise self.errors.error_for(response)
            raise self.errors.bad_response(f"{self.errors.name} answered {what} with an unexpected {status}.",
                                           status=status)

    def _redirect_target(self, response: requests.Response, url: str, redirects: int, what: str) -> str:
        location = response.headers.get("Location")
        if not location or redirects > MAX_REDIRECTS:
            raise self.errors.bad_response(f"{self.errors.name} redirected {what} too many times.",
                                           status=response.status_code)
        target = urljoin(url, location)
        here, there = urlsplit(url), urlsplit(target)
        if here.scheme == "https" and there.scheme != "https":
            raise self.errors.refused(f"{self.errors.name} redirected {what} from https to plain http; "
                                      "not following it.", "redirect")
        same_host = (here.hostname or "").lower() == (there.hostname or "").lower() and (
            here.port == there.port or (there.scheme == "https" and there.port in (None, 443)))
        if origin_of(target) not in self.origins and not same_host:
            raise self.errors.refused(f"{self.errors.name} redirected {what} to another address; "
                                      "not following it.", "redirect")
        self._check_policy(target)
        return target

    def _send(self, method: str, url: str, deadline: float, what: str, kwargs: dict) -> requests.Response:
        """One attempt after another until an answer with a complete body (or an error)."""
        read_faults = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._out_of_time(what)
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            self.throttle.acquire()
            left = None
            try:
                self.stats.add(requests=1)
                response = self.session.request(method, url, timeout=timeout, allow_redirects=False, stream=True,
                                                auth=self.auth, **kwargs)
                try:
                    self._read_body(response, deadline, what)
                except BaseException:
                    response.close()
                    raise
                if self.rate_limit_header:
                    left = _float(response.headers.get(self.rate_limit_header))
            except EgressRefused as exc:
                raise self.errors.refused(f"{self.errors.name} cannot be called here: {exc}.", "egress") from None
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
                    requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    urllib3.exceptions.HTTPError, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise self._out_of_time(what) from None
                if not _read_failure(exc):
                    raise self._transport_error(exc, url, what) from None
                # The connection dropped or stalled while the answer was read: a GET is sent again.
                read_faults += 1
                if method not in IDEMPOTENT:  # a write may have happened: resending could do it twice
                    raise self.errors.unavailable(
                        f"{self.errors.name} cut off its answer to a {method} on {what}.") from None
                wait = backoff_delay(read_faults, base=self.backoff_factor / 4, cap=self.backoff_max)
                if read_faults > self.max_retries or time.monotonic() + wait >= deadline:
                    raise self.errors.unavailable(
                        f"{self.errors.name} kept dropping the connection while sending {what}.") from None
                self.stats.add(retries=1)
                log.info("event=http_read_retry system=%s path=%s error=%s", self.errors.name, what,
                         type(_reason(exc)).__name__)
                self._sleep(wait)
                continue
            finally:
                self.throttle.release(left)
            return response

    def _transport_error(self, exc: BaseException, url: str, what: str) -> ApiError:
        if isinstance(exc, requests.exceptions.RetryError):
            return self.errors.unavailable(f"{self.errors.name} kept failing for {what}; try again later.")
        if isinstance(exc, (requests.exceptions.Timeout, TimeoutError)):
            return self.errors.unavailable(f"{self.errors.name} did not answer in time ({what}).")
        return self.errors.unavailable(f"Could not reach {self.errors.name} at {urlsplit(url).netloc}.")

    def _read_body(self, response: requests.Response, deadline: float, what: str) -> None:
        """Read the body in chunks: at most `max_body_bytes`, and no later than the deadline."""
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            raise self._too_large(what)
        raw = response.raw
        chunks = []
        total = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._out_of_time(what)
            if remaining < self.read_timeout:  # one read may not wait past the deadline either
                sock = getattr(getattr(raw, "connection", None), "sock", None)
                if sock is not None:
                    sock.settimeout(max(0.01, remaining))
            chunk = raw.read1(READ_CHUNK, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > self.max_body_bytes:
                raise self._too_large(what)
            chunks.append(chunk)
        # requests keeps a streamed body here once read; every later .content/.json() uses it.
        response._content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        response._content_consumed = True
        self.stats.add(bytes=total)

    def _too_large(self, what: str) -> ApiError:
        mb = self.max_body_bytes // (1024 * 1024)
        return self.errors.refused(f"{self.errors.name}'s answer for {what} was too large (over {mb} MB); "
                                   "stopped reading it.", "too_large")

    def _out_of_time(self, what: str) -> ApiError:
        run_deadline = self.stats.run_deadline
        if run_deadline is not None and time.monotonic() >= run_deadline:
            return self.errors.run_over(self.stats.run_limit_s or 0)
        return self._too_long(what)

    def _too_long(self, what: str) -> ApiError:
        error = self.errors.unavailable(f"{self.errors.name} took too long to answer {what} "
                                        f"(more than {self.deadline_s:g} s); stopped waiting.")
        error.refusal = "deadline"
        return error

    def close(self) -> None:
        self.session.close()


def _reason(exc: BaseException) -> BaseException:
    """The urllib3 error under a requests exception (MaxRetryError unwrapped)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    return getattr(inner, "reason", None) or inner if isinstance(inner, urllib3.exceptions.MaxRetryError) else inner


def _read_failure(exc: BaseException) -> bool:
    """The request reached the server and the answer broke off or stalled (not a refused connection)."""
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
                        requests.exceptions.ReadTimeout)):
        return True
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.RetryError)):
        return False
    reason = _reason(exc)
    return isinstance(reason, (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
                               urllib3.exceptions.DecodeError, TimeoutError))


def _session_retry(session: requests.Session) -> Retry | None:
    adapter = session.adapters.get("https://") or next(iter(session.adapters.values()), None)
    retry = getattr(adapter, "max_retries", None)
    return retry if isinstance(retry, Retry) else None


def _session_policy(session: requests.Session) -> EgressPolicy:
    for adapter in session.adapters.values():
        policy = getattr(adapter, "egress_policy", None)
        if policy is not None:
            return policy
    return default_policy()


def url_path(url: str, root: str = "") -> str:
    """The path of a URL after `root`, without its query string (which could carry a credential)."""
    path = urlsplit(url).path or "/"
    if root and root in path:
        return path.split(root, 1)[1] or path
    return path


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
