"""A selection copied from the book is cited with the page and section it came from."""

from llama_index.core.schema import NodeWithScore, TextNode

from rag.answer.prompts import SELECTION_TITLE
from rag.retrieval.postprocessors import SelectedTextPostprocessor, comparable_text

ZMP_TEXT = (
    "## Zero moment point\n\nThe **zero moment point** (ZMP) is the point on the ground where the "
    "net moment of the contact forces has no horizontal component. A walking robot stays "
    "balanced while the `ZMP` lies inside the support polygon."
)


def _node(node_id: str, text: str, path: str, url: str, score: float) -> NodeWithScore:
    node = TextNode(
        id_=node_id,
        text=text,
        metadata={
            "title": path.rsplit("/", 1)[-1],
            "section": url.rsplit("#", 1)[-1],
            "url": url,
            "page_url": url.split("#", 1)[0],
            "source_path": path,
        },
    )
    return NodeWithScore(node=node, score=score)


NODES = [
    _node(
        "a", "Servos hold a joint at a commanded angle.", "docs/servos.md", "/docs/servos#a", 0.6
    ),
    _node("b", "Capture point: where to step to stop.", "docs/balance.md", "/docs/balance#cp", 0.5),
    _node("c", ZMP_TEXT, "docs/balance.md", "/docs/balance#zero-moment-point", 0.4),
]


def test_comparable_text_drops_markdown_marks_and_spacing():
    assert (
        comparable_text("The **ZMP**  lies\n inside `the` polygon")
        == "the zmp lies inside the polygon"
    )


def test_a_selection_copied_from_the_rendered_page_is_traced_to_its_chunk():
    # as a reader copies it: no markdown marks, a line break where the page wrapped
    selection = (
        "The zero moment point (ZMP) is the point on the ground where the net moment of the\n"
        "contact forces has no horizontal component."
    )
    pin = SelectedTextPostprocessor(selected_text=selection)
    ranked = pin.postprocess_nodes(list(NODES))
    first, second = ranked[0], ranked[1]
    assert first.node.metadata["title"] == SELECTION_TITLE
    assert first.node.get_content() == selection
    assert first.node.metadata["source_path"] == "docs/balance.md"
    assert first.node.metadata["url"] == "/docs/balance#zero-moment-point"
    assert first.node.metadata["section"] == "zero-moment-point"
    # the chunk that holds the selection comes right after it
    assert second.node.node_id == "c"
    assert {n.node.node_id for n in ranked[1:]} == {"a", "b", "c"}


def test_a_selection_found_nowhere_keeps_the_reader_page():
    pin = SelectedTextPostprocessor(
        selected_text="Lidar measures distance with pulses of laser light.",
        page_url="/docs/sensors",
    )
    ranked = pin.postprocess_nodes(list(NODES))
    assert ranked[0].node.metadata["source_path"] is None
    assert ranked[0].node.metadata["url"] == "/docs/sensors"


def test_a_selection_too_short_to_be_distinctive_is_not_traced():
    pin = SelectedTextPostprocessor(selected_text="the ZMP")
    ranked = pin.postprocess_nodes(list(NODES))
    assert ranked[0].node.metadata["source_path"] is None
