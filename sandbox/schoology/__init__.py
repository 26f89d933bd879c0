"""Sandbox Schoology: a stand-in for Schoology's REST API v1 on 127.0.0.1 (stdlib only).

In process::

    from sandbox.schoology import SchoologySandbox
    with SchoologySandbox(courses=2, assignments=4, students=3, seed=1) as sb:
        sb.api_url                          # http://127.0.0.1:<port>/v1
        sb.consumer_key, sb.consumer_secret # two-legged OAuth 1.0a credentials
        sb.data                             # SchoologyData (see sandbox.schoology.data)
        sb.request_log                      # [RequestLogEntry(method, path, query, status, started,
                                            #   throttled, refusal, fault, consumer_key, signature_method)]
        sb.mutate("delete_assignment", assignment_id=5699937)   # or add/update_assignment, grade,
                                            # submit, archive_section
        sb.set_throttle(limit=5, window_s=1.0)   # 429 past `limit` requests per window
        sb.fail_next(2, status=503)         # the next 2 verified requests fail (nonce already spent)
        sb.set_links_host("127.0.0.2:9")    # links.next / redirects name another host

Routes: GET /v1/users/me (303 to /v1/users/{uid}), users/{uid}, gradingperiods, courses,
courses/{id}/sections[?include_past=1], sections/{id}, sections/{id}/enrollments,
sections/{id}/assignments[/{id}], sections/{id}/grades, sections/{id}/submissions/{grade_item_id}.
Every /v1 request must carry a valid two-legged OAuth 1.0a signature (HMAC-SHA1 or
PLAINTEXT, realm "Schoology API", fresh nonce, timestamp within `max_skew_s`), checked by
hand per RFC 5849 in sandbox/schoology/oauth.py; refusals are oauth-php's plain-text 401s.

Control endpoint (no Schoology client calls it): GET /__sandbox__/health, GET /__sandbox__/data,
GET /__sandbox__/log, POST /__sandbox__/log/clear,
POST /__sandbox__/mutate {"op": "grade", "assignment_id": 5699937, "uid": "48289", "grade": 9},
POST /__sandbox__/throttle {"limit": 5, "window_s": 1, "retry_after": true},
POST /__sandbox__/faults {"count": 1, "status": 503}.

Command line: ``python -m sandbox.schoology --port 8765 --courses 3``.
"""
from .data import SandboxError, SchoologyData
from .oauth import OAuthVerifier
from .server import RequestLogEntry, SchoologySandbox

__all__ = ["SchoologySandbox", "SchoologyData", "SandboxError", "RequestLogEntry", "OAuthVerifier"]
