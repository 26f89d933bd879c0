"""`flask queue ...`: each command changes the queue as it says."""
from datetime import timedelta

from app.extensions import db
from app.models import SyncOperation
from app.models.types import utcnow
from app.sync import queue

Op = SyncOperation


def _op(kind="hub_delivery", status=Op.FAILED, **values) -> int:
    op, _ = queue.enqueue(db.session, kind, entity_type="topic", entity_id=1)
    for key, value in {"status": status, **values}.items():
        setattr(op, key, value)
    db.session.commit()
    return op.id


def test_pause_and_resume_the_queue_or_one_kind(cli):
    assert "Paused the whole queue" in cli.invoke(args=["queue", "pause"]).output
    assert "paused: everything" in cli.invoke(args=["queue", "status"]).output
    cli.invoke(args=["queue", "pause", "--kind", "canvas_sync"])
    assert queue.paused_kinds(db.session) == ["*", "canvas_sync"]
    cli.invoke(args=["queue", "resume"])
    assert queue.paused_kinds(db.session) == ["canvas_sync"]
    cli.invoke(args=["queue", "resume", "--kind", "canvas_sync"])
    assert "paused: nothing" in cli.invoke(args=["queue", "status"]).output


def test_retry_skip_force_one_operation(cli):
    failed, pending = _op(), _op(status=Op.PENDING, next_attempt_at=utcnow() + timedelta(hours=1))
    assert cli.invoke(args=["queue", "retry", str(failed)]).exit_code == 0
    assert db.session.get(Op, failed).status == Op.PENDING
    assert cli.invoke(args=["queue", "force", str(pending)]).exit_code == 0
    db.session.expire_all()
    forced = db.session.get(Op, pending)
    assert forced.forced and forced.next_attempt_at <= utcnow()
    assert cli.invoke(args=["queue", "skip", str(failed)]).exit_code == 0
    db.session.expire_all()
    assert db.session.get(Op, failed).status == Op.SKIPPED
    refused = cli.invoke(args=["queue", "skip", "999999"])
    assert refused.exit_code == 1 and "does not exist or cannot be skipped" in refused.output


def test_bulk_retry_by_kind_entity_and_time(cli):
    old = _op(created_at=utcnow() - timedelta(days=3))
    recent = _op()
    other_kind = _op(kind="canvas_sync")
    result = cli.invoke(args=["queue", "bulk-retry", "--kind", "hub_delivery", "--entity-type", "topic",
                              "--since", (utcnow() - timedelta(days=1)).isoformat()])
    assert "1 operation(s) put back" in result.output
    db.session.expire_all()
    assert [db.session.get(Op, i).status for i in (old, recent, other_kind)] == [Op.FAILED, Op.PENDING, Op.FAILED]
