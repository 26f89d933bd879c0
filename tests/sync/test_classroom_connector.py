"""ClassroomConnector over real HTTP: a full and an incremental pull yield exactly the sandbox's data."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.services.http import build_session
from app.sync.connectors import registry
from app.sync.connectors.classroom import ClassroomConnector, due_at
from app.sync.errors import PermanentError, TransientError
from tests.fixtures.classroom import classroom_client


def by_type(changes):
    out = {}
    for change in changes:
        out.setdefault(change.entity_type, []).append(change)
    return out


def published(sb):
    return {wid: w for works in sb.data.course_work.values() for wid, w in works.items() if w["state"] == "PUBLISHED"}


def connector(sb, session, state=None, page_size=3):
    return ClassroomConnector(classroom_client(sb, session, page_size=page_size), state=state)


def test_full_pull_is_the_whole_sandbox_in_order_with_snapshot_markers(make_classroom_sandbox, classroom_session):
    sb = make_classroom_sandbox(courses=3)  # the third is archived: pulled too
    changes = list(connector(sb, classroom_session).pull(None))
    kinds = by_type(changes)
    assert {c.external_id for c in kinds["course"]} == set(sb.data.courses)
    assert {c.external_id for c in kinds["assignment"]} == set(published(sb))
    subs = {sid for group in sb.data.submissions.values() for sid in group}
    assert sorted(c.external_id for c in kinds["submission"]) == sorted(subs)
    markers = [(c.external_id, c.data["entity_types"]) for c in kinds["snapshot_complete"]]
    assert markers == [("", ["course"])] + [(cid, ["assignment", "submission"]) for cid in sb.data.courses]

    position = {(c.entity_type, c.external_id): i for i, c in enumerate(changes)}
    for c in kinds["assignment"]:
        assert position[("course", c.parent_external_id)] < position[("assignment", c.external_id)]
    for c in kinds["submission"]:
        assert position[("assignment", c.parent_external_id)] < position[("submission", c.external_id)]
        assert position[("submission", c.external_id)] < position[("snapshot_complete", c.data["course_external_id"])]


def test_changes_carry_the_contract_fields(classroom_sandbox, classroom_session):
    sb = classroom_sandbox
    changes = list(connector(sb, classroom_session).pull(None))
    course = next(c for c in changes if c.entity_type == "course")
    raw = sb.data.courses[course.external_id]
    assert course.origin == "classroom" and course.data["name"] == raw["name"]
    assert course.data["workflow_state"] == "active" and course.data["html_url"] == raw["alternateLink"]
    assert course.data["course_code"] == raw["section"] and course.data["term_name"] is None
    assert course.data["raw"] == raw
    for change in (c for c in changes if c.entity_type == "assignment"):
        work = sb.data.course_work[change.parent_external_id][change.external_id]
        assert change.data["name"] == work["title"] and change.data["published"] is True
        assert change.data["points_possible"] == (float(work["maxPoints"]) if "maxPoints" in work else None)
        if "dueDate" in work:
            d, t = work["dueDate"], work["dueTime"]
            assert change.data["due_at"] == datetime(d["year"], d["month"], d["day"], t.get("hours", 0),
                                                     t.get("minutes", 0), tzinfo=timezone.utc)
        else:
            assert change.data["due_at"] is None
        assert change.updated_at == change.data["updated_at"] and change.updated_at.tzinfo is not None
    graded = [c for c in changes if c.entity_type == "submission" and c.data["workflow_state"] == "graded"]
    assert graded
    for change in graded:
        sub = sb.data.submissions[change.data["course_external_id"]][change.external_id]
        assert change.data["score"] == sub["assignedGrade"] and change.data["graded_at"] is not None
        assert change.data["student_external_id"] == sub["userId"] and change.data["submitted_at"] is not None
    missing = [c for c in changes if c.entity_type == "submission" and c.data["missing"]]
    assert missing and all(c.data["late"] and c.data["workflow_state"] == "unsubmitted" for c in missing)


def test_incremental_pull_yields_exactly_what_changed(classroom_sandbox, classroom_session):
    sb = classroom_sandbox
    first = connector(sb, classroom_session)
    list(first.pull(None))
    state = first.state
    cid, other = list(sb.data.courses)
    old_work = next(iter(sb.data.course_work[cid]))
    old_sub = next(s for s in sb.data.submissions[other].values() if "assignedGrade" not in s)
    sb.mutate("edit_course_work", course_id=cid, course_work_id=old_work, title="Edited")
    added = sb.mutate("add_course_work", course_id=cid, title="Added", due="2026-12-01T12:00:00Z")
    sb.mutate("grade_submission", course_id=other, submission_id=old_sub["id"], points=4)
    sb.mutate("rename_course", course_id=other, name="Renamed course")
    sb.clear_log()

    second = connector(sb, classroom_session, state=state)
    changes = list(second.pull(datetime(2000, 1, 1, tzinfo=timezone.utc)))  # the state wins over an old since
    kinds = by_type(changes)
    assert "snapshot_complete" not in kinds
    assert [(c.external_id, c.data["name"]) for c in kinds["course"]] == [(other, "Renamed course")]
    assert sorted(c.external_id for c in kinds["assignment"]) == sorted([old_work, added["id"]])
    new_subs = {s["id"] for s in sb.data.submissions[cid].values() if s["courseWorkId"] == added["id"]}
    assert {c.external_id for c in kinds["submission"]} == new_subs | {old_sub["id"]}
    regraded = next(c for c in kinds["submission"] if c.external_id == old_sub["id"])
    assert regraded.data["score"] == 4.0 and regraded.data["workflow_state"] == "graded"
    # courseWork newest first: one page per course was enough to reach the bookmark.
    work_calls = [e for e in sb.requests("/courseWork") if e.path.endswith("/courseWork")]
    assert len(work_calls) == 2 and all("pageToken" not in e.query for e in work_calls)

    assert second.state["course_work"][cid] == datetime.fromisoformat(
        sb.data.course_work[cid][added["id"]]["updateTime"].replace("Z", "+00:00")).isoformat()
    third = connector(sb, classroom_session, state=second.state)
    assert list(third.pull(datetime(2000, 1, 1, tzinfo=timezone.utc))) == []
    assert third.state == second.state


def test_since_is_the_bookmark_of_a_course_the_state_does_not_know(classroom_sandbox, classroom_session):
    sb = classroom_sandbox
    cid = next(iter(sb.data.courses))
    since = sb.data.clock  # the newest updateTime the sandbox has handed out
    edited = sb.mutate("edit_course_work", course_id=cid, course_work_id=next(iter(sb.data.course_work[cid])),
                       maxPoints=50)
    changes = list(connector(sb, classroom_session).pull(since))
    assert [(c.entity_type, c.external_id) for c in changes] == [("assignment", edited["id"])]
    assert changes[0].data["points_possible"] == 50.0


def test_bad_token_is_a_permanent_error_in_plain_words(classroom_sandbox, classroom_session):
    bad = ClassroomConnector(classroom_client(classroom_sandbox, classroom_session, token="expired-token"))
    with pytest.raises(PermanentError) as caught:
        list(bad.pull(None))
    assert caught.value.message.startswith("Google Classroom rejected the access token")
    assert "expired-token" not in caught.value.message


def test_quota_exhausted_is_transient(classroom_sandbox):
    classroom_sandbox.fail_next(5)
    client = classroom_client(classroom_sandbox, build_session(total_retries=1, backoff_factor=0.01))
    with pytest.raises(TransientError, match="quota"):
        list(ClassroomConnector(client).pull(None))


def test_registry_factory_builds_a_read_only_connector(classroom_sandbox, classroom_session):
    made = registry.create("classroom", {"access_token": classroom_sandbox.token}, classroom_session,
                           {"classroom_url": classroom_sandbox.base_url, "page_size": 50})
    assert made.name == "classroom" and made.writable is False
    assert len([c for c in made.pull(None) if c.entity_type == "course"]) == 2
    with pytest.raises(NotImplementedError):
        made.apply(None)
    service_account = registry.create("classroom", {}, classroom_session,
                                      {"classroom_url": classroom_sandbox.base_url,
                                       "service_account_token": classroom_sandbox.token})
    assert len([c for c in service_account.pull(None) if c.entity_type == "course"]) == 2


def test_due_at_reads_googles_date_and_time_objects():
    assert due_at({"dueDate": {"year": 2026, "month": 3, "day": 4}, "dueTime": {}}) == \
        datetime(2026, 3, 4, tzinfo=timezone.utc)
    assert due_at({"dueDate": {"year": 2026, "month": 3, "day": 4}, "dueTime": {"hours": 7, "minutes": 5}}) == \
        datetime(2026, 3, 4, 7, 5, tzinfo=timezone.utc)
    assert due_at({}) is None
