"""Refusals as a classifier, the threshold curve, the choice across books, answer checks."""

from eval.crossval import leave_one_out
from eval.report.charts import threshold_curve
from eval.scoring.answer_checks import fences_balanced, starts_mid_sentence
from eval.scoring.refusals import Decision, best_threshold, classifier, curve

BOOK = [
    Decision(answerable=True, refused=False, score=0.62),
    Decision(answerable=True, refused=False, score=0.55),
    Decision(answerable=True, refused=True, score=0.40),
    Decision(answerable=False, refused=True, score=0.30),
    Decision(answerable=False, refused=False, score=0.47),
]


def test_classifier_counts_both_errors():
    c = classifier(BOOK)
    assert c["unanswerable_refused"] == 1
    assert c["unanswerable_answered"] == 1
    assert c["answerable_refused"] == 1
    assert c["precision"] == 0.5
    assert c["recall"] == 0.5
    assert c["false_refusal_rate"] == round(1 / 3, 4)


def test_the_curve_refuses_more_as_the_threshold_rises():
    points = curve(BOOK, [0.2, 0.35, 0.5, 0.6])
    refused = [p["unanswerable_refused"] for p in points]
    wrongly = [p["answerable_refused"] for p in points]
    assert refused == sorted(refused)
    assert wrongly == sorted(wrongly)
    assert points[2]["recall"] == 1.0
    assert points[2]["answerable_refused"] == 1


def test_best_threshold_refuses_every_unanswerable_within_the_cap():
    many = [Decision(True, False, 0.5 + i / 100) for i in range(30)]
    many += [Decision(False, False, 0.44), Decision(False, False, 0.38)]
    chosen = best_threshold(many, [0.40, 0.46, 0.52, 0.58])
    assert chosen == 0.46  # refuses both; 0.52 would refuse 3 of 30 answerable (10 %)


def test_leave_one_book_out_scores_each_book_with_a_threshold_from_the_others():
    rows = leave_one_out({"a": BOOK, "b": BOOK, "c": BOOK})
    assert [r["book"] for r in rows] == ["a", "b", "c"]
    assert all(r["threshold"] == rows[0]["threshold"] for r in rows)


def test_curve_chart_draws_both_lines_and_the_threshold_in_force():
    svg = threshold_curve(
        curve(BOOK),
        lines={"recall": "unanswerable refused", "false_refusal_rate": "x"},
        marker=0.42,
    )
    assert svg.count("<polyline") == 2
    assert "in force 0.42" in svg


def test_fences_must_close():
    assert fences_balanced("Run this:\n\n```bash\nls\n```\n\nDone [1]")
    assert not fences_balanced("Run this:\n\n```bash\nls\n")
    assert fences_balanced("no code at all")


def test_an_answer_that_opens_mid_sentence_is_flagged():
    assert starts_mid_sentence("and then the robot falls over. [1]")
    assert starts_mid_sentence(", which is why [2]")
    assert not starts_mid_sentence("The zero moment point is ... [1]")
    assert not starts_mid_sentence("```python\nx = 1\n```\n\n(code from [1])")
    assert not starts_mid_sentence("- **Goal**: what to do [1]")
    assert not starts_mid_sentence("- `ros2 topic list` lists topics [1]")
    assert not starts_mid_sentence("`configureStore` sets up the store [1]")
