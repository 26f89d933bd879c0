"""The stored form of raw Canvas JSON (app/models/raw_codec.py)."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from app.models import raw_codec

# A graded submission as the sandbox Canvas sends it, less the fields the sync drops.
SUBMISSION = json.dumps({
    "id": 1000004, "user_id": 2004, "assignment_id": 10001, "score": 7.5, "grade": "7.5", "entered_score": 7.5,
    "entered_grade": "7.5", "submitted_at": "2026-10-17T15:28:54Z", "graded_at": "2026-10-20T00:19:31Z",
    "posted_at": "2026-10-20T00:19:31Z", "grader_id": 1, "workflow_state": "graded", "late": False, "missing": False,
    "excused": False, "attempt": 2, "submission_type": "online_upload", "cached_due_date": "2026-10-18T05:59:00Z",
    "grade_matches_current_submission": True, "late_policy_status": None, "points_deducted": None,
    "grading_period_id": None, "extra_attempts": None, "redo_request": False, "body": None, "url": None,
    "custom_grade_status_id": None, "sticker": None}, sort_keys=True, separators=(",", ":"))


LARGE = json.dumps({"id": 1, "description": "<p>" + "Lab report, part %d. " * 2000 % tuple(range(2000)) + "</p>"})
TEXTS = (SUBMISSION, LARGE, '{"name":"Économie — 経済"}', "{}")


def test_round_trip_small_large_and_non_ascii():
    for text in TEXTS:
        packed = raw_codec.pack(text)
        assert packed[0] == raw_codec.VERSION_2
        assert raw_codec.unpack(packed) == text
        assert raw_codec.unpack(memoryview(packed)) == text  # as PostgreSQL's driver returns it
    assert len(raw_codec.pack(LARGE)) * 5 < len(LARGE)
    assert raw_codec.pack(None) is None and raw_codec.unpack(None) is None


def test_rows_written_before_version_2_stay_readable():
    for text in TEXTS:
        old = raw_codec.pack_v1(text)
        assert old[0] == raw_codec.VERSION_1 and raw_codec.unpack(old) == text
    # A VERSION_1 row as main wrote it before VERSION_2 (commit 31195b9), frozen here.
    frozen = bytes.fromhex("01ab860491818101523d0a6cc0d40200")
    assert raw_codec.unpack(frozen) == '{"id":1000,"name":"Hook"}'


def test_unknown_version_is_refused_in_plain_words():
    import pytest

    with pytest.raises(ValueError, match="unknown raw JSON format"):
        raw_codec.unpack(b"\x09abc")


def test_a_typical_submission_packs_small():
    assert len(raw_codec.pack(SUBMISSION)) < 120 and len(raw_codec.pack(SUBMISSION)) * 4 < len(SUBMISSION)


def test_pack_from_many_threads_matches_one_thread():
    texts = [SUBMISSION.replace("1000004", str(1000000 + i)) for i in range(400)]
    alone = [raw_codec.pack(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(raw_codec.pack, texts))
    assert together == alone
    assert [raw_codec.unpack(p) for p in together] == texts


def test_pack_many_writes_what_pack_writes_for_each_object():
    objects = [b'{"id":1,"workflow_state":"graded"}', b'{"id":2,"grade":"A"}' * 40, b"{}"]
    packed = raw_codec.pack_many(objects)
    assert packed == [raw_codec.pack(o) for o in objects]
    assert [raw_codec.unpack(p) for p in packed] == [o.decode() for o in objects]
    assert raw_codec.pack_many([]) == []
    assert raw_codec.pack_many([b"", b"{}"]) == [raw_codec.pack(b""), raw_codec.pack(b"{}")]  # the batch call refuses empty input
