"""Current grade of a course from its grade categories and graded submissions.

Plain functions of plain values (no database), so the rule is easy to read and test.

The rule follows Canvas's "current grade" (ungraded work is ignored, not counted as 0):

- Only graded work counts: a submission with a score that is not excused, on a published,
  not deleted assignment. Ungraded and excused assignments count for nothing.
- Points (course does not weight categories): total points earned / total points possible
  of the graded work.
- Weighted (course weights its categories): each category's percentage is its points
  earned / points possible; the grade is the weighted mean of those percentages over the
  categories that have graded work, so the weights of categories without graded work are
  left out (and the others scaled up), as Canvas does. Categories with no weight, and
  assignments in no category, count for nothing.
- Extra credit works as in Canvas: a score above points possible raises the grade;
  graded work worth 0 points adds its score to the earned total only.
- No graded work (or nothing worth points) gives no grade (None), not 0 %.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

WEIGHTED = "weighted"
POINTS = "points"

METHOD_EXPLANATIONS = {
    WEIGHTED: "weighted by category",
    POINTS: "points earned / points possible",
}


@dataclass
class CategoryTotal:
    """Graded work of one category: points earned and possible, and its weight (percent)."""

    key: object
    weight: float | None = None
    earned: float = 0.0
    possible: float = 0.0
    graded: int = 0

    @property
    def percent(self) -> float | None:
        return 100.0 * self.earned / self.possible if self.possible > 0 else None


@dataclass
class GradeResult:
    percent: float | None
    method: str
    earned: float = 0.0
    possible: float = 0.0
    graded: int = 0
    categories: dict = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        return METHOD_EXPLANATIONS[self.method]


@dataclass(frozen=True)
class GradedItem:
    """One assignment as far as the grade is concerned."""

    category: object
    points_possible: float | None
    score: float | None
    excused: bool = False
    published: bool = True


def counts(item: GradedItem) -> bool:
    return item.published and not item.excused and item.score is not None


def totals_by_category(items: Iterable[GradedItem], weights: dict) -> dict:
    """Sum graded work per category key; ``weights`` maps category key -> weight."""
    totals = {key: CategoryTotal(key, weight) for key, weight in weights.items()}
    for item in items:
        if not counts(item):
            continue
        total = totals.setdefault(item.category, CategoryTotal(item.category, weights.get(item.category)))
        total.earned += float(item.score)
        total.possible += float(item.points_possible or 0.0)
        total.graded += 1
    return totals


def course_grade(categories: Iterable[CategoryTotal], weighted: bool) -> GradeResult:
    """The current grade from per-category totals of graded work."""
    categories = list(categories)
    earned = sum(c.earned for c in categories)
    possible = sum(c.possible for c in categories)
    graded = sum(c.graded for c in categories)
    by_key = {c.key: c for c in categories}
    if not weighted:
        percent = 100.0 * earned / possible if possible > 0 else None
        return GradeResult(percent, POINTS, earned, possible, graded, by_key)
    weight_sum = 0.0
    weighted_sum = 0.0
    for category in categories:
        weight = category.weight or 0.0
        if category.key is None or weight <= 0 or category.possible <= 0:
            continue
        weight_sum += weight
        weighted_sum += weight * category.earned / category.possible
    percent = 100.0 * weighted_sum / weight_sum if weight_sum > 0 else None
    return GradeResult(percent, WEIGHTED, earned, possible, graded, by_key)


def grade_from_items(items: Iterable[GradedItem], weights: dict, weighted: bool) -> GradeResult:
    return course_grade(totals_by_category(items, weights).values(), weighted)
