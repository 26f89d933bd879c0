"""The grade rule on plain values (no app, no database)."""
import pytest
from hypothesis import given, strategies as st

from app.web.planner.grades import CategoryTotal, GradedItem, course_grade, grade_from_items


def test_points_mode_sums_earned_over_possible():
    items = [GradedItem("hw", 10, 9), GradedItem("hw", 10, 5), GradedItem("exam", 80, 60)]
    result = grade_from_items(items, {"hw": 20, "exam": 80}, weighted=False)
    assert result.percent == pytest.approx(100 * 74 / 100)
    assert result.explanation == "points earned / points possible"


def test_ungraded_excused_and_unpublished_do_not_count():
    items = [GradedItem("hw", 10, 8), GradedItem("hw", 100, None), GradedItem("hw", 100, 0, excused=True),
             GradedItem("hw", 100, 0, published=False)]
    assert grade_from_items(items, {}, weighted=False).percent == pytest.approx(80.0)


def test_weighted_mode_weights_category_percentages():
    items = [GradedItem("hw", 10, 10), GradedItem("hw", 10, 10),   # hw 100 %
             GradedItem("exam", 100, 50)]                          # exam 50 %
    result = grade_from_items(items, {"hw": 25, "exam": 75}, weighted=True)
    assert result.percent == pytest.approx(0.25 * 100 + 0.75 * 50)
    assert result.explanation == "weighted by category"
    # the same work by points would be 70/120
    assert grade_from_items(items, {"hw": 25, "exam": 75}, weighted=False).percent == pytest.approx(7000 / 120)


def test_weighted_mode_leaves_out_categories_without_graded_work():
    items = [GradedItem("hw", 10, 9), GradedItem("exam", 100, None)]
    result = grade_from_items(items, {"hw": 20, "exam": 80}, weighted=True)
    assert result.percent == pytest.approx(90.0)  # hw scaled up to the whole grade


def test_weighted_mode_ignores_zero_weight_and_uncategorized():
    items = [GradedItem("hw", 10, 10), GradedItem("bonus", 10, 0), GradedItem(None, 10, 0)]
    assert grade_from_items(items, {"hw": 50, "bonus": 0}, weighted=True).percent == pytest.approx(100.0)


def test_no_graded_work_is_no_grade_not_zero():
    assert grade_from_items([GradedItem("hw", 10, None)], {"hw": 100}, weighted=True).percent is None
    assert grade_from_items([], {}, weighted=False).percent is None


def test_extra_credit_raises_the_grade():
    items = [GradedItem("hw", 10, 12), GradedItem("hw", 0, 2)]
    assert grade_from_items(items, {}, weighted=False).percent == pytest.approx(140.0)


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 100), st.integers(0, 100)),
                min_size=1, max_size=30),
       st.dictionaries(st.sampled_from(["a", "b", "c"]), st.floats(1, 100), min_size=3, max_size=3))
def test_weighted_grade_lies_between_the_category_extremes(rows, weights):
    items = [GradedItem(cat, possible, min(score, possible)) for cat, possible, score in rows]
    result = grade_from_items(items, weights, weighted=True)
    percents = [c.percent for c in result.categories.values() if c.percent is not None]
    assert min(percents) - 1e-9 <= result.percent <= max(percents) + 1e-9


def test_course_grade_from_precomputed_totals():
    totals = [CategoryTotal(1, 40, earned=30, possible=40, graded=2), CategoryTotal(2, 60, earned=0, possible=0)]
    assert course_grade(totals, weighted=True).percent == pytest.approx(75.0)
