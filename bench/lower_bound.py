"""The lower bound: the fastest any client could fetch the sandbox's data, from its request log."""
from __future__ import annotations

import math
import statistics

from sandbox.canvas.throttle import HIGH_WATER_MARK, OUTFLOW, UP_FRONT

PER_PAGE = 100


def lower_bound(sb, log) -> dict:
    """The fastest any client could fetch this data through this Canvas.

    R   = fewest requests the data needs at per_page=100:
          1 (users/self) + 2 course lists (active, completed; ceil(n/100) pages each)
          + per course ceil(groups/100) (assignment_groups?include[]=assignments)
          + ceil(submissions/100) (students/submissions).
    t   = median server-side duration of a successful request in the measured full sync
          (the injected latency plus the sandbox's own work).
    c   = mean throttle cost of a request (X-Request-Cost, from the same log).
    C   = most requests in flight the bucket admits: floor(700 / 50) + 1 = 15
          (a request is refused only when the bucket is *over* the mark).
    T   = max(D * t,                    critical path: D = 3 dependent levels
                                        (course list -> groups -> a submissions page),
              R * t / C,                all requests spread over C parallel slots,
              (R * c - slack) / 10)     the bucket's outflow of 10 units/s once the
                                        700 - 50*C units of slack are used up.
    Client CPU and database writes are left out: this is a network bound.
    """
    data = sb.data
    courses = sorted(data.enrolled)
    requests = 1 + 2 * max(1, math.ceil(len(courses) / PER_PAGE))
    for cid in courses:
        groups = data.course_groups(cid)
        n_subs = sum(1 for _ in data.iter_submissions(cid, published_only=True))
        requests += max(1, math.ceil(len(groups) / PER_PAGE)) + max(1, math.ceil(n_subs / PER_PAGE))
    ok = [e for e in log if e.status == 200 and not e.throttled]
    t = statistics.median(e.duration for e in ok)
    c = statistics.fmean(e.cost for e in ok)
    slots = math.floor(HIGH_WATER_MARK / UP_FRONT) + 1
    slack = max(0.0, HIGH_WATER_MARK - UP_FRONT * slots)
    seconds = max(3 * t, requests * t / slots, (requests * c - slack) / OUTFLOW)
    return {"seconds": seconds, "requests": requests, "request_s": t, "cost": c, "slots": slots}
