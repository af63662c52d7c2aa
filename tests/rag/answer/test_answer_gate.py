"""When the extractive answerer answers and when it says the book does not cover a question."""

from rag.answer.extractive import extractive_answer
from rag.answer.prompts import NOT_COVERED, Passage, cited_indexes

PRIORITIES = Passage(
    index=1,
    title="Capstone project",
    section="Task priorities",
    text="Balance and stability are handled before anything else.",
)
ENCODER = Passage(
    index=1,
    title="Sensors",
    section="Encoders",
    text="An absolute encoder measures the joint angle. It keeps its reading after a power cut.",
)


def test_terms_of_the_section_heading_count_as_covered():
    question = "How is capstone task priority decided?"
    answer = extractive_answer(question, [PRIORITIES])
    assert answer.startswith("Balance and stability")
    assert cited_indexes(answer) == [1]
    # the same sentence under a heading about something else does not answer it
    elsewhere = Passage(index=1, title="Hardware", section="Wiring", text=PRIORITIES.text)
    assert extractive_answer(question, [elsewhere]) == NOT_COVERED


def test_conversational_filler_does_not_lower_coverage():
    plain = "Which sensor measures the joint angle?"
    chatty = "So which sensor actually measures the joint angle, even though several things could?"
    expected = extractive_answer(plain, [ENCODER], min_coverage=0.9)
    assert "absolute encoder" in expected
    assert extractive_answer(chatty, [ENCODER], min_coverage=0.9) == expected


STATE = Passage(
    index=1,
    title="Tools",
    section="Browser extension",
    text="Install the browser extension to look at the store state.",
)
SHARED = Passage(
    index=2,
    title="Organising",
    section="Shared data",
    text="Data that many windows read should live in one place.",
)


def _similarity(table: dict[str, float]):
    def similarity(question: str, texts: list[str]) -> list[float]:
        return [table[text] for text in texts]

    return similarity


def test_the_close_meaning_must_come_from_a_sentence_that_shares_the_question_words():
    question = "How do I keep the store state in sync across browser tabs?"
    # the sentence that shares the words means something else; the one close in meaning shares
    # too few of the question's words to be quoted as its answer
    judged = _similarity({STATE.text: 0.30, SHARED.text: 0.65})
    assert extractive_answer(question, [STATE, SHARED], similarity=judged) == NOT_COVERED
    # when the sentence that shares the words is also close in meaning, it answers
    agreeing = _similarity({STATE.text: 0.60, SHARED.text: 0.65})
    answer = extractive_answer(question, [STATE, SHARED], similarity=agreeing)
    assert "browser extension" in answer
    assert 1 in cited_indexes(answer)
