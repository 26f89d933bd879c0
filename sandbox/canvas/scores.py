"""A student's own course scores, as ``include[]=total_scores`` puts them on their enrollment.

Canvas's ``computed_current_score`` counts graded work only; ``computed_final_score``
counts ungraded work as zero. Both are percentages rounded to two places, weighted by
assignment group when the course weights its groups (groups without graded work are
left out of the current score). ``drop_lowest`` drops the group's lowest percentages
(Canvas picks the drops that maximise the grade; for single drops that is the same).
No grading standard is set in the sandbox, so the ``*_grade`` fields are null.
"""
from __future__ import annotations

from .submissions import F_EXCUSED


def student_scores(data, course_id: int, student_id: int) -> dict:
    s_idx = data.student_index(student_id)
    subs = data._course_subs(course_id)
    course = data.courses[course_id]
    current: dict[int, list[tuple[float, float]]] = {}
    final: dict[int, list[tuple[float, float]]] = {}
    for a in data.course_assignments(course_id):
        if not a["published"] or not a["points_possible"]:
            continue
        r = subs.row_of(a["id"], s_idx)
        if subs.flags[r] & F_EXCUSED:
            continue
        score = subs.score[r]
        graded = score == score  # not NaN
        group = a["assignment_group_id"]
        final.setdefault(group, []).append((score if graded else 0.0, a["points_possible"]))
        if graded:
            current.setdefault(group, []).append((score, a["points_possible"]))
    weighted = course["apply_assignment_group_weights"]
    return {
        "computed_current_score": _score(data, course_id, current, weighted),
        "computed_final_score": _score(data, course_id, final, weighted),
        "computed_current_grade": None,
        "computed_final_grade": None,
    }


def _score(data, course_id: int, by_group: dict, weighted: bool) -> float | None:
    groups = {g["id"]: g for g in data.course_groups(course_id)}
    earned_total = possible_total = weight_sum = weighted_sum = 0.0
    for gid, items in by_group.items():
        drop = int((groups.get(gid, {}).get("rules") or {}).get("drop_lowest", 0))
        if drop and len(items) > drop:
            items = sorted(items, key=lambda sp: sp[0] / sp[1])[drop:]
        earned = sum(s for s, _ in items)
        possible = sum(p for _, p in items)
        earned_total += earned
        possible_total += possible
        weight = groups.get(gid, {}).get("group_weight") or 0.0
        if possible > 0 and weight > 0:
            weight_sum += weight
            weighted_sum += weight * earned / possible
    if weighted:
        return round(100.0 * weighted_sum / weight_sum, 2) if weight_sum > 0 else None
    return round(100.0 * earned_total / possible_total, 2) if possible_total > 0 else None
