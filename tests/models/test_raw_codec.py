"""The stored form of raw Canvas JSON (app/models/raw_codec.py)."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from app.models import raw_codec

SUBMISSION = json.dumps({"assignment_id": 10001, "attempt": 2, "body": None, "cached_due_date": "2026-10-18T05:59:00Z",
                         "entered_grade": "7.5", "entered_score": 7.5, "excused": False, "grade": "7.5",
                         "graded_at": "2026-10-20T00:19:31Z", "id": 1000004, "late": False, "missing": False,
                         "score": 7.5, "submitted_at": "2026-10-17T15:28:54Z", "user_id": 2004,
                         "workflow_state": "graded"}, sort_keys=True, separators=(",", ":"))


def test_round_trip_small_large_and_non_ascii():
    large = json.dumps({"id": 1, "description": "<p>" + "Lab report, part %d. " * 2000 % tuple(range(2000)) + "</p>"})
    for text in (SUBMISSION, large, '{"name":"Économie — 経済"}', "{}"):
        packed = raw_codec.pack(text)
        assert packed[0] == raw_codec.VERSION_1
        assert raw_codec.unpack(packed) == text
    assert len(large) > raw_codec.SMALL and len(raw_codec.pack(large)) * 5 < len(large)
    assert raw_codec.pack(None) is None and raw_codec.unpack(None) is None


def test_a_typical_submission_packs_small():
    assert len(raw_codec.pack(SUBMISSION)) < 100 < len(SUBMISSION) / 3


def test_pack_from_many_threads_matches_one_thread():
    texts = [SUBMISSION.replace("1000004", str(1000000 + i)) for i in range(400)]
    alone = [raw_codec.pack(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(raw_codec.pack, texts))
    assert together == alone
    assert [raw_codec.unpack(p) for p in together] == texts
