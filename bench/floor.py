"""The fetch-only floor: the full sync's own requests, fetched again and nothing else.

The lower bound (bench/lower_bound.py) is computed from the network alone; on one
machine the sandbox's own CPU (it builds and encodes every page) also sits on the
path, so the floor *measures* it: every successful GET of the measured full sync, from
the sandbox's request log, is sent again through the same client (CanvasAPIService:
same pooled session, same client-side leaky-bucket throttle and its in-flight cap,
same throttle waits), from as many threads as that cap, each body read but not
decoded, hashed or written. The replay ignores the sync's dependency order (a page
whose URL came from the previous page's Link header is fetched as soon as a slot is
free), so if anything the floor is lower than what any real client could reach.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor


def floor_urls(log) -> list[str]:
    """The URL path + query of each distinct successful GET of a measured phase, in log order."""
    seen: dict[str, None] = {}
    for e in log:
        if e.method == "GET" and e.status == 200 and not e.throttled:
            seen.setdefault(f"{e.path}?{e.query}" if e.query else e.path, None)
    return list(seen)


def fetch_only(api, urls: list[str]) -> dict:
    """GET every URL through `api`'s request path (throttle, retries), bodies read, not decoded."""
    base = api.base_url
    concurrency = api.throttle.max_concurrency

    def one(url: str) -> int:
        return len(api._request("GET", base + url).content)

    t0, cpu0 = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="floor") as pool:
        read = sum(pool.map(one, urls))
    seconds, cpu_s = time.monotonic() - t0, time.process_time() - cpu0
    stats = api.stats.as_dict()
    return {"seconds": seconds, "cpu_s": cpu_s, "rows": 0, "bytes": read, "requests": stats["requests"],
            "retries": stats["retries"], "throttles": stats["throttles"], "concurrency": concurrency}
