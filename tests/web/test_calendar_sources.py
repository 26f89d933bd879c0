"""One user's calendar feed filled from all three systems over real HTTP (Canvas, Google Classroom,
Schoology sandboxes), through the product's own path: a Canvas sync, and a `user_connection` per
source pulled by the queue's `source_pull` handler."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.extensions import db
from app.models import SyncOperation, User, UserConnection
from app.sync import queue
from app.sync.connectors.base import Change
from app.sync.jobs.source_pull import SOURCE_PULL, request_pull
from app.sync.sources.store import SourceStore
from tests.helpers import fast_service, make_canvas_user
from tests.web.test_calendar import feed_path, parse

DONE = "\u2713 "


def connect(user: User, system: str, sb) -> int:
    connection = UserConnection(user_id=user.id, system=system)
    if system == "classroom":
        connection.base_url = sb.base_url
        connection.set_credentials({"access_token": sb.token}, hint_from="access_token")
    else:
        connection.base_url = sb.api_url
        connection.set_credentials({"consumer_key": sb.consumer_key, "consumer_secret": sb.consumer_secret},
                                   hint_from="consumer_secret")
    db.session.add(connection)
    db.session.commit()
    return connection.id


def pull(connection_id: int) -> SyncOperation:
    op, _ = request_pull(db.session.get(UserConnection, connection_id), notify=False)
    queue.process_available(db.session, worker_id="calendar-test", kinds=[SOURCE_PULL], max_operations=1)
    db.session.expire_all()
    op = db.session.get(SyncOperation, op.id)
    assert op.status == SyncOperation.COMPLETED, op.error_message
    return op


def fill_from_sandboxes(canvas, classroom, schoology, email: str = "pupil@example.edu"):
    """A Canvas student (its own token) who also connected Classroom and Schoology."""
    user = make_canvas_user(canvas, email=email, token=canvas.student_token)
    assert fast_service(user).sync_all_data().ok
    connections = {"classroom": connect(user, "classroom", classroom),
                   "schoology": connect(user, "schoology", schoology)}
    for connection_id in connections.values():
        pull(connection_id)
    return db.session.get(User, user.id), connections


# --- What each sandbox says the feed must hold -------------------------------------------------

def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def canvas_expected(sb) -> dict[str, tuple[str, datetime, bool]]:
    """uid -> (name, due, own work handed in) for the student's published, dated Canvas assignments."""
    d, me = sb.data, sb.student_id
    own = {s["assignment_id"]: s for c in d.enrolled for s in d.iter_submissions(c, published_only=True)
           if s["user_id"] == me}
    out = {}
    for cid in d.enrolled:
        for a in d.course_assignments(cid):
            if not (a["published"] and a["due_at"]):
                continue
            sub = own.get(a["id"])
            done = sub is not None and (sub.get("excused") or sub["workflow_state"] in ("submitted", "graded")
                                        or sub["submitted_at"] is not None) and not (
                sub.get("missing") and sub["score"] is None and sub["submitted_at"] is None)
            out[f"canvas-course-{cid}-assignment-{a['id']}@canvasflow"] = (a["name"], _utc(a["due_at"]), bool(done))
    return out


def classroom_expected(sb) -> dict[str, tuple[str, datetime, bool]]:
    """Published courseWork with a due date; the token is a teacher's (5 students' work): no own marks."""
    out = {}
    for cid, works in sb.data.course_work.items():
        for wid, w in works.items():
            if w["state"] != "PUBLISHED" or "dueDate" not in w:
                continue
            day, t = w["dueDate"], w.get("dueTime", {})
            due = datetime(day["year"], day["month"], day["day"], t.get("hours", 0), t.get("minutes", 0),
                           t.get("seconds", 0), tzinfo=timezone.utc)
            out[f"classroom-course-{cid}-assignment-{wid}@canvasflow"] = (w["title"], due, False)
    return out


def schoology_expected(sb) -> dict[str, tuple[str, datetime, bool]]:
    """Published, dated assignments of the active sections; the key is the teacher's (users/me): no marks."""
    out = {}
    for sid in sb.data.section_ids(include_past=False):
        for a in sb.data.section_assignments(sid):
            ts = sb.data.due_ts(a)
            if ts is None or not int(a["published"]):
                continue
            due = datetime.fromtimestamp(ts, timezone.utc)
            out[f"schoology-course-{sid}-assignment-{a['id']}@canvasflow"] = (a["title"], due, False)
    return out


def feed_events(client, user) -> dict[str, tuple[str, datetime, bool]]:
    events = parse(client.get(feed_path(user)).get_data())
    out = {}
    for uid, e in events.items():
        done = e["summary"].startswith(DONE)
        assert done == any(c in e["categories"] for c in ("Submitted", "Submitted late", "Graded", "Excused"))
        assert e["start"] == e["end"]
        out[uid] = (e["summary"][len(DONE):] if done else e["summary"], e["start"], done)
    return out


def test_feed_holds_exactly_the_deadlines_of_all_three_systems_with_stable_uids(
        app, client, make_canvas_sandbox, classroom_sandbox, make_schoology_sandbox):
    canvas = make_canvas_sandbox(courses=2, assignments=6, students=3)
    # One student in each section: the lone submitter is still not the user (users/me is the teacher).
    schoology = make_schoology_sandbox(students=1)
    user, connections = fill_from_sandboxes(canvas, classroom_sandbox, schoology)

    # Someone else's Classroom deadlines (the same course ids!) never reach this user's feed.
    other = User(email="other@example.edu", password_hash="x")
    db.session.add(other)
    db.session.commit()
    cid = next(iter(classroom_sandbox.data.course_work))
    SourceStore(db.session, other.id, "classroom").store([
        Change("classroom", "course", cid, data={"name": "Other's course", "raw": {}}),
        Change("classroom", "assignment", "other-work", parent_external_id=cid,
               data={"name": "Their private essay", "due_at": datetime.now(timezone.utc) + timedelta(days=1),
                     "published": True, "raw": {}})])

    expected = {**canvas_expected(canvas), **classroom_expected(classroom_sandbox), **schoology_expected(schoology)}
    by_system = {s: {u for u in expected if u.startswith(s)} for s in ("canvas", "classroom", "schoology")}
    assert all(len(uids) >= 3 for uids in by_system.values()), by_system
    assert any(done for _, _, done in canvas_expected(canvas).values())  # the student has handed work in
    first = feed_events(client, user)
    assert first == expected
    assert "Their private essay" not in str(first)

    # A second pull of each system (Canvas incremental, Classroom incremental, Schoology full) and a
    # rename in each: the same UIDs, updated in place.
    classroom_sandbox.mutate("edit_course_work", course_id=cid,
                             course_work_id=next(u.split("-assignment-")[1].split("@")[0]
                                                 for u in by_system["classroom"] if f"-course-{cid}-" in u),
                             title="Renamed in Classroom")
    assert fast_service(user).sync_all_data(use_incremental=True).ok
    for connection_id in connections.values():
        assert pull(connection_id).result["kind"] in ("incremental", "full")
    second = feed_events(client, user)
    assert set(second) == set(first)
    assert "Renamed in Classroom" in {name for name, _, _ in second.values()}
    assert second == {**canvas_expected(canvas), **classroom_expected(classroom_sandbox),
                      **schoology_expected(schoology)}


def test_a_lone_classroom_submitter_is_the_user_and_their_handed_in_work_is_marked(
        app, client, make_canvas_sandbox, make_classroom_sandbox, make_schoology_sandbox):
    # Classroom names no owner of the token here: a student's token lists only their own work.
    classroom = make_classroom_sandbox(students=1, course_work=8)
    user, _ = fill_from_sandboxes(make_canvas_sandbox(courses=1, assignments=3, students=2), classroom,
                                  make_schoology_sandbox(courses=1, assignments=2, students=2))
    handed_in = {s["courseWorkId"] for subs in classroom.data.submissions.values() for s in subs.values()
                 if s["state"] in ("TURNED_IN", "RETURNED") or "assignedGrade" in s}
    expected = {uid: (name, due, uid.split("-assignment-")[1].split("@")[0] in handed_in)
                for uid, (name, due, _) in classroom_expected(classroom).items()}
    assert any(done for *_, done in expected.values()) and not all(done for *_, done in expected.values())
    events = feed_events(client, user)
    assert {uid: e for uid, e in events.items() if uid.startswith("classroom-")} == expected
    # The Schoology key is the teacher's (users/me): its students' work is never marked as the user's.
    assert not any(done for uid, (*_, done) in events.items() if uid.startswith("schoology-"))
