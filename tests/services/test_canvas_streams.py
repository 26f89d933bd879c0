"""Canvas JSON -> rows (app/services/canvas_streams.py)."""
from datetime import datetime, timezone

from app.models import raw_codec
from app.services.canvas_streams import submission_page, submission_values


def test_a_page_of_submissions_gives_the_rows_of_each_alone():
    now = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
    page = [{"id": i, "assignment_id": 7, "user_id": 100 + i, "score": i / 2, "grade": str(i), "late": i % 2 == 0,
             "workflow_state": "graded", "seconds_late": 60 * i, "submitted_at": "2026-11-01T10:00:00Z"}
            for i in range(1, 40)] + [{"id": 99, "assignment_id": 7, "user_id": 3}]
    rows = submission_page(page, now=now)
    assert rows == [submission_values(obj, now=now) for obj in page]
    blob = rows[0][13]
    assert '"seconds_late"' not in raw_codec.unpack(blob)  # volatile fields stay out of the stored copy
    assert submission_page([], now=now) == []
