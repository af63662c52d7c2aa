from rag.answer.extractive import extractive_answer, units_of
from rag.answer.prompts import NOT_COVERED, SELECTION_TITLE, Passage, cited_indexes

ZMP = Passage(
    index=1,
    title="Balance",
    section="Zero moment point",
    text=(
        "The zero moment point is the point on the ground where the net moment of the contact "
        "forces has no horizontal component. A walking robot stays balanced while the ZMP lies "
        "inside the support polygon. Engineers often plan gaits around it."
    ),
)
SERVO = Passage(
    index=2,
    title="Actuators",
    section="Servos",
    text="| Servo | Torque |\n|---|---|\n| XM430 | 4.1 N·m |\n| XM540 | 10.6 N·m |",
)
CODE = Passage(
    index=3,
    title="ROS 2",
    section="Listing topics",
    text="To see every topic, run this:\n\n```bash\nros2 topic list\n```",
)


def test_answer_quotes_the_supporting_sentence_and_cites_it():
    answer = extractive_answer(
        "Where must the ZMP lie for a walking robot to stay balanced?", [ZMP, SERVO]
    )
    assert "inside the support polygon" in answer
    assert cited_indexes(answer) == [1]


def test_table_rows_are_units_with_their_header():
    units = units_of(SERVO)
    assert any("XM540" in u.text and "Torque" in u.text for u in units)
    answer = extractive_answer("How much torque does the XM540 servo give?", [ZMP, SERVO])
    assert "10.6" in answer
    assert "[2]" in answer


def test_code_block_is_quoted_whole():
    answer = extractive_answer("Which command lists every ros2 topic?", [CODE])
    assert "```bash\nros2 topic list\n```" in answer
    assert cited_indexes(answer) == [3]


def test_question_unrelated_to_passages_is_not_covered():
    answer = extractive_answer("What is the capital city of Australia?", [ZMP, SERVO])
    assert answer == NOT_COVERED


def test_selection_answers_even_vague_questions():
    selection = Passage(index=1, title=SELECTION_TITLE, section="", text=ZMP.text)
    answer = extractive_answer("what does this mean?", [selection, SERVO])
    assert answer != NOT_COVERED
    assert 1 in cited_indexes(answer)


def test_no_passages_is_not_covered():
    assert extractive_answer("What is a ZMP?", []) == NOT_COVERED


ROBOTS = Passage(
    index=1,
    title="Lab",
    section="Robot platforms",
    text="| Robot | Type | Price | Joints |\n|---|---|---|---|\n"
    "| Unitree G1 | Humanoid | $16,000 | 23 |\n| Clearpath Jackal | Mobile base | $18,000 | 0 |",
)


def test_a_passage_that_names_the_topic_but_not_the_asked_fact_is_refused(embed_model):
    def similarity(question: str, texts: list[str]) -> list[float]:
        q = embed_model.get_query_embedding(question)
        vectors = embed_model.get_text_embedding_batch(texts)
        return [sum(a * b for a, b in zip(q, v, strict=True)) for v in vectors]

    off_topic = "How many hours does the Unitree G1 run on a single battery charge?"
    assert extractive_answer(off_topic, [ROBOTS]) != NOT_COVERED  # words alone are fooled
    assert extractive_answer(off_topic, [ROBOTS], similarity=similarity) == NOT_COVERED
    on_topic = "What does the Unitree G1 humanoid cost?"
    answer = extractive_answer(on_topic, [ROBOTS], similarity=similarity)
    assert "$16,000" in answer
    assert cited_indexes(answer) == [1]
