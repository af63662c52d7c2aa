from rag.retrieval.sparse import (
    encode_document,
    encode_documents,
    encode_queries,
    encode_query,
    term_index,
)
from rag.text import STOPWORDS, terms


def _weights(vector: tuple[list[int], list[float]]) -> dict[int, float]:
    indices, values = vector
    return dict(zip(indices, values, strict=True))


def test_term_index_is_stable_and_tells_terms_apart():
    assert term_index("actuator") == term_index("actuator")
    assert term_index("actuator") != term_index("actuators")
    assert term_index("lidar") != term_index("radar")
    assert 0 <= term_index("lidar") < 2**32


def test_encoding_is_deterministic_and_sorted():
    text = "Lidar sensors measure distance; lidar maps the room and the robot plans."
    first, second = encode_document(text), encode_document(text)
    assert first == second
    indices, values = first
    assert indices == sorted(indices)
    assert len(indices) == len(set(indices)) == len(values)
    assert encode_query(text) == encode_query(text)


def test_same_stem_maps_to_the_same_index_in_documents_and_queries():
    doc = _weights(encode_document("The joints of the arm."))
    query = _weights(encode_query("joint"))
    assert set(query) == {term_index("joint")}
    assert set(query) <= set(doc)


def test_document_term_frequency_saturates():
    once = _weights(encode_document("servo"))[term_index("servo")]
    ten_times = _weights(encode_document(" ".join(["servo"] * 10)))[term_index("servo")]
    assert ten_times > once
    assert ten_times < 10 * once


def test_document_weight_grows_with_term_frequency_at_equal_length():
    # same number of terms, so only the term frequency differs
    low = _weights(encode_document("servo motor gear belt"))[term_index("servo")]
    high = _weights(encode_document("servo servo servo belt"))[term_index("servo")]
    assert high > low


def test_query_weights_are_one_per_distinct_term():
    indices, values = encode_query("servo servo motor Motor gear")
    assert sorted(indices) == sorted({term_index(t) for t in ("servo", "motor", "gear")})
    assert values == [1.0, 1.0, 1.0]


def test_stop_words_produce_no_terms():
    only_stop_words = "What is the and of to with you would"
    assert all(word.lower() in STOPWORDS for word in only_stop_words.split())
    assert terms(only_stop_words) == []
    assert encode_document(only_stop_words) == ([], [])
    assert encode_query(only_stop_words) == ([], [])
    assert set(_weights(encode_query("what is the gripper"))) == {term_index("gripper")}


def test_batch_forms_match_single_forms():
    texts = ["Grippers grasp objects.", "The", "Kinematics of a humanoid arm"]
    doc_indices, doc_values = encode_documents(texts)
    assert list(zip(doc_indices, doc_values, strict=True)) == [encode_document(t) for t in texts]
    query_indices, query_values = encode_queries(texts)
    assert list(zip(query_indices, query_values, strict=True)) == [encode_query(t) for t in texts]
