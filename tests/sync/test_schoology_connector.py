"""SchoologyConnector: full pulls from the sandbox over real HTTP, in the contract's neutral shape."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from app.services.schoology_api_service import SchoologyAPIService
from app.sync.connectors.base import Change, registry
from app.sync.connectors.schoology import SchoologyConnector, create_schoology_connector
from app.sync.errors import PermanentError


def connector_for(sb, secret=None, **settings) -> SchoologyConnector:
    creds = {"consumer_key": sb.consumer_key, "consumer_secret": secret or sb.consumer_secret}
    session = SchoologyAPIService.build_session()
    return create_schoology_connector(creds, session, {"api_url": sb.api_url, **settings})


def by_type(changes: list[Change], entity_type: str) -> list[Change]:
    return [c for c in changes if c.entity_type == entity_type]


def snapshot_scopes(changes: list[Change]) -> dict[str, list[str]]:
    return {c.external_id: c.data["entity_types"] for c in by_type(changes, "snapshot_complete")}


def test_a_full_pull_holds_exactly_the_sandbox_data(schoology_sandbox):
    sb = schoology_sandbox
    connector = connector_for(sb, page_size=2)
    changes = list(connector.pull(None))
    active = sb.data.section_ids(include_past=False)

    courses = by_type(changes, "course")
    assert [c.external_id for c in courses] == active
    first = sb.data.sections[active[0]]
    assert courses[0].data["name"] == f"{first['course_title']}: {first['section_title']}"
    assert (courses[0].data["workflow_state"], courses[0].data["term_name"]) == ("active", "Fall Term")
    assert courses[0].data["raw"]["id"] == active[0] and len(courses[0].data["content_hash"]) == 64

    assignments = by_type(changes, "assignment")
    expected = [(str(a["id"]), sid) for sid in active for a in sb.data.section_assignments(sid)]
    assert [(a.external_id, a.parent_external_id) for a in assignments] == expected
    for change in assignments:
        source = sb.data.assignments[int(change.external_id)]
        assert change.data["due_at"] == datetime.fromtimestamp(sb.data.due_ts(source), timezone.utc)
        assert change.data["points_possible"] == float(source["max_points"])
        assert change.data["published"] is bool(source["published"])

    submissions = by_type(changes, "submission")
    assert len(submissions) == len(assignments) * len(sb.data.students)
    for sub in submissions:
        aid, uid = int(sub.parent_external_id), sub.data["student_external_id"]
        enrollment = sb.data.enrollment_for(sb.data.assignments[aid]["_section_id"], uid)
        grade = sb.data.grades.get((aid, enrollment["id"]))
        revision = sb.data.revisions.get((aid, uid))
        assert sub.external_id == f"{aid}-{uid}"
        assert sub.data["score"] == (grade["grade"] if grade else None)
        assert sub.data["late"] is bool(revision and revision["late"])
        assert sub.data["workflow_state"] == ("graded" if grade else "submitted" if revision else "unsubmitted")
        if revision:
            assert sub.data["submitted_at"] == datetime.fromtimestamp(revision["created"], timezone.utc)
        assignment = sb.data.assignments[aid]
        overdue = sb.data.due_ts(assignment) < time.time() and assignment["allow_dropbox"] == "1"
        assert sub.data["missing"] is (overdue and not revision and not grade)

    assert snapshot_scopes(changes) == {"": ["course"], **{sid: ["assignment", "submission"] for sid in active}}


def test_order_course_then_assignments_then_their_submissions(schoology_sandbox):
    changes = list(connector_for(schoology_sandbox).pull(None))
    seen: set[tuple[str, str]] = set()
    for change in changes:
        if change.entity_type == "assignment":
            assert ("course", change.parent_external_id) in seen
        if change.entity_type == "submission":
            assert ("assignment", change.parent_external_id) in seen
        if change.entity_type == "snapshot_complete" and change.external_id:
            # the marker closes its scope: nothing of that section after it
            later = changes[changes.index(change) + 1:]
            assert not [c for c in later
                        if c.entity_type == "assignment" and c.parent_external_id == change.external_id]
        seen.add((change.entity_type, change.external_id))


def test_past_sections_are_ignored_unless_configured(make_schoology_sandbox):
    sb = make_schoology_sandbox(throttle=False)  # two pulls in a row would pass 50 requests in 5 s
    past = [sid for sid, s in sb.data.sections.items() if s["_past"]]
    default = list(connector_for(sb).pull(None))
    assert not {c.external_id for c in by_type(default, "course")} & set(past)
    assert not [c for c in by_type(default, "assignment") if c.parent_external_id in past]
    assert not [e for e in sb.request_log if any(f"/sections/{sid}/" in e.path for sid in past)]
    assert all("include_past" not in e.query for e in sb.request_log)

    with_past = list(connector_for(sb, SCHOOLOGY_INCLUDE_PAST="1").pull(None))
    courses = {c.external_id: c for c in by_type(with_past, "course")}
    assert set(past) <= set(courses) and {courses[sid].data["workflow_state"] for sid in past} == {"archived"}
    assert {c.parent_external_id for c in by_type(with_past, "assignment")} == set(sb.data.sections)
    assert set(past) <= set(snapshot_scopes(with_past))


def test_a_deleted_assignment_is_missing_from_the_next_snapshot(schoology_sandbox):
    sb = schoology_sandbox
    sid = sb.data.section_ids()[0]
    victim = str(sb.data.section_assignments(sid)[1]["id"])
    first = list(connector_for(sb).pull(None))
    assert victim in {c.external_id for c in by_type(first, "assignment")}

    sb.mutate("delete_assignment", assignment_id=victim)
    second = list(connector_for(sb).pull(None))
    scope = [c for c in second if c.parent_external_id == sid and c.entity_type == "assignment"]
    assert victim not in {c.external_id for c in scope} and len(scope) == len(sb.data.section_assignments(sid))
    assert not [c for c in by_type(second, "submission") if c.parent_external_id == victim]
    assert snapshot_scopes(second)[sid] == ["assignment", "submission"]  # complete: the store may delete it


def test_a_bad_signature_is_refused_and_reported_in_plain_words(schoology_sandbox):
    sb = schoology_sandbox
    with pytest.raises(PermanentError) as info:
        list(connector_for(sb, secret="a-wrong-secret").pull(None))
    assert info.value.message == "Schoology refused the OAuth signature: check the consumer key and secret."
    assert "a-wrong-secret" not in info.value.message
    assert sb.request_log[-1].status == 401
    assert sb.request_log[-1].refusal.startswith("Verification of signature failed")


def test_missing_credentials_fail_the_factory_in_plain_words(schoology_sandbox):
    with pytest.raises(PermanentError, match="Connect Schoology first"):
        create_schoology_connector({"consumer_key": "", "consumer_secret": ""}, None,
                                   {"api_url": schoology_sandbox.api_url})


def test_throttling_during_a_pull_loses_nothing(make_schoology_sandbox):
    calm = make_schoology_sandbox(throttle=False)
    busy = make_schoology_sandbox(throttle_limit=5, throttle_window_s=0.5)
    expected = [(c.entity_type, c.external_id, c.data.get("content_hash")) for c in connector_for(calm).pull(None)]
    connector = connector_for(busy)
    connector.client.backoff_factor, connector.client.max_attempts = 0.1, 12
    got = [(c.entity_type, c.external_id, c.data.get("content_hash")) for c in connector.pull(None)]
    assert got == expected
    assert sum(1 for e in busy.request_log if e.status == 429) > 0


def test_unchanged_objects_are_skipped_given_previous_hashes(make_schoology_sandbox):
    sb = make_schoology_sandbox(throttle=False)  # three pulls in a row
    first = list(connector_for(sb).pull(None))
    hashes = {f"{c.entity_type}:{c.external_id}": c.data["content_hash"] for c in first if "content_hash" in c.data}
    again = list(connector_for(sb, previous_hashes=hashes).pull(None))
    assert {c.entity_type for c in again} == {"snapshot_complete"}
    assert sum(len(c.data["unchanged"]) for c in again) == len(hashes)

    sid = sb.data.section_ids()[0]
    aid = sb.data.section_assignments(sid)[0]["id"]
    student = sb.data.students[0]["uid"]
    sb.mutate("grade", assignment_id=aid, uid=student, grade=7.5)
    changed = [c for c in connector_for(sb, previous_hashes=hashes).pull(None) if c.entity_type != "snapshot_complete"]
    assert [(c.entity_type, c.external_id) for c in changed] == [("submission", f"{aid}-{student}")]
    data = changed[0].data
    assert (data["score"], data["grade"], data["workflow_state"]) == (7.5, "7.5", "graded")


def test_grade_exceptions_excused_and_missing(make_schoology_sandbox):
    sb = make_schoology_sandbox(throttle=False)
    sid = sb.data.section_ids()[0]
    aid = sb.data.section_assignments(sid)[-1]["id"]  # due in the future
    excused, missing = sb.data.students[0]["uid"], sb.data.students[1]["uid"]
    sb.mutate("grade", assignment_id=aid, uid=excused, exception=1)
    sb.mutate("grade", assignment_id=aid, uid=missing, exception=3)
    subs = {c.external_id: c.data for c in connector_for(sb).pull(None) if c.entity_type == "submission"}
    one, other = subs[f"{aid}-{excused}"], subs[f"{aid}-{missing}"]
    assert (one["excused"], one["score"], one["workflow_state"], one["missing"]) == (True, None, "graded", False)
    assert (other["missing"], other["score"], other["workflow_state"]) == (True, None, "unsubmitted")
    assert one["graded_at"] is not None


def test_registered_read_only_and_factory_from_registry(schoology_sandbox):
    sb = schoology_sandbox
    connector = registry.create("schoology", {"consumer_key": sb.consumer_key, "consumer_secret": sb.consumer_secret},
                                None, {"api_url": sb.api_url})
    assert connector.name == "schoology" and connector.writable is False
    with pytest.raises(NotImplementedError):
        connector.apply(Change("local", "assignment", "1"))
