"""Shaped answers (``shape=True``): the answer first, reading order, code with its introduction."""

from rag.answer.extractive import (
    Support,
    assess,
    extractive_answer,
    is_fragment,
    looks_like_formula,
)
from rag.answer.prompts import NOT_COVERED, SELECTION_TITLE, Passage, cited_indexes

ZMP = Passage(
    index=1,
    title="Balance",
    section="Zero moment point",
    text=(
        "ZMP_x = x_c - (z_c / g) * ddx_c, where ZMP_x = p and z_c / g = const.\n\n"
        "The zero moment point is the point on the ground where the contact forces produce no "
        "horizontal moment. A robot stays balanced while it lies inside the support polygon."
    ),
)
LAUNCH = Passage(
    index=2,
    title="Launch files",
    section="Remapping",
    text=(
        "Launch files start several nodes at once. To rename a topic at launch time, pass "
        "remappings to the node:\n\n```python\nNode(package='demo', remappings=[('/a', '/b')])\n```"
    ),
)
ORDER = Passage(
    index=3,
    title="Services",
    section="Service calls",
    text=(
        "A service client sends one request. The server computes the response. The client "
        "waits for that response before it continues."
    ),
)


def test_a_definition_leads_the_answer_not_the_formula():
    answer = extractive_answer("What is the zero moment point?", [ZMP], shape=True)
    assert answer.startswith("The zero moment point is the point on the ground")
    assert "ZMP_x =" not in answer.split("[1]")[0]


def test_shapes_are_recognised():
    assert looks_like_formula("ZMP_x = x_c - (z_c / g) * ddx_c")
    assert not looks_like_formula("The zero moment point is the point on the ground.")
    assert is_fragment("and then it falls.")
    assert not is_fragment("Then it falls.")


def test_a_code_block_comes_with_the_sentence_that_introduces_it_and_its_fences():
    answer = extractive_answer(
        "How do I rename a topic with remappings at launch?", [LAUNCH], shape=True
    )
    intro = answer.index("pass remappings to the node:")
    code = answer.index("```python\nNode(")
    assert intro < code
    assert answer.count("```") == 2
    assert cited_indexes(answer) == [2]


def test_sentences_of_one_passage_stay_in_reading_order():
    answer = extractive_answer(
        "What does the service client do with the request and the response?", [ORDER], shape=True
    )
    positions = [answer.find(s) for s in ("sends one request", "waits for that response")]
    assert all(p >= 0 for p in positions)
    assert positions == sorted(positions)


def test_a_vague_question_about_a_selection_is_explained_from_the_book_around_it():
    selected = "The client waits for that response before it continues."
    selection = Passage(index=1, title=SELECTION_TITLE, section="Service calls", text=selected)
    book = Passage(index=2, title=ORDER.title, section=ORDER.section, text=ORDER.text)
    answer = extractive_answer("What does this mean?", [selection, book], shape=True)
    assert answer != NOT_COVERED
    assert selected not in answer  # not echoed back
    assert "sends one request" in answer
    assert cited_indexes(answer) == [2]


def test_a_selection_with_nothing_around_it_is_still_answered_from_itself():
    selection = Passage(index=1, title=SELECTION_TITLE, section="", text=ORDER.text)
    answer = extractive_answer("What does this mean?", [selection], shape=True)
    assert cited_indexes(answer) == [1]


def test_support_carries_the_gate_signals():
    support = assess(
        "What is the zero moment point?", [ZMP], similarity=lambda _q, t: [0.7] * len(t)
    )
    assert support.coverage >= 0.25
    assert support.similarity == 0.7
    assert not support.unmatched
    assert support.covered(0.25, 0.42)
    assert not support.covered(0.25, 0.8)
    assert support.score(0.25) == 0.7
    named = assess("What is the zero moment point of the Atlas robot?", [ZMP])
    assert named.unmatched == ("Atlas",)
    assert named.score(0.25) == 0.0
    assert Support(coverage=0.0, similarity=None, unmatched=(), selection=True).score(0.25) == 1.0


def test_unshaped_answers_keep_passage_rank_order_and_quote_a_selection():
    answer = extractive_answer("What is the zero moment point?", [ZMP])
    assert answer.startswith("ZMP_x")  # the passage's reading order, formula first
    selected = "The client waits for that response before it continues."
    selection = Passage(index=1, title=SELECTION_TITLE, section="Service calls", text=selected)
    book = Passage(index=2, title=ORDER.title, section=ORDER.section, text=ORDER.text)
    assert 1 in cited_indexes(extractive_answer("What does this mean?", [selection, book]))


def test_unshaped_what_is_answers_open_with_the_definition_not_another_passages_formula():
    formula = Passage(
        index=1,
        title="Balance",
        section="Zero moment point",
        text="p_x = x_c - (z_c / g) * ddx_c, where x_c is the zero moment point estimate.",
    )
    definition = Passage(
        index=2,
        title="Balance",
        section="Zero moment point",
        text="The zero moment point is the point on the ground where the contact forces produce "
        "no horizontal moment.",
    )
    answer = extractive_answer("What is the zero moment point?", [formula, definition])
    assert answer.startswith("The zero moment point is the point on the ground")
    assert answer.index("[2]") < answer.index("[1]")
    assert "p_x = x_c" in answer  # the same units, only reordered
    # other questions keep passage rank order
    other = extractive_answer(
        "How is the zero moment point estimate computed?", [formula, definition]
    )
    assert other.startswith("p_x")
