"""Ragas 0.4 metrics of the answers: without an LLM always, LLM-judged when a judge is configured.

Without an LLM (the ``eval`` extra installed):
- ``context_precision`` / ``context_recall``: Ragas' non-LLM context precision (with reference)
  and recall, comparing the passages an answer was given with the book's passages that hold the
  question's evidence (string similarity, Ragas' default threshold 0.5);
- ``string_similarity``: 1 - normalised Levenshtein distance of answer and reference answer;
- ``rouge_l``: ROUGE-L F1 of answer and reference answer;
- ``answer_similarity``: cosine similarity of answer and reference answer embedded with our
  local MiniLM model.

With ``RAG_EVAL_JUDGE_*`` set (see ``eval.scoring.judge``): ``faithfulness`` and
``answer_relevancy``, judged by that model through an OpenAI-compatible client that never retries.

Ragas is imported only by ``score_samples``, after ``prepare_environment`` has turned its
telemetry off and pointed tiktoken at the encodings bundled with llama-index-core, so nothing
is sent or downloaded. Without ragas the metrics are None and the status says why.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm
from typing_extensions import override

from eval.scoring.answered import Answered
from eval.scoring.judge import JudgeSettings
from rag.retrieval.embeddings import LocalEmbedding

LOCAL_METRICS = (
    "context_precision",
    "context_recall",
    "string_similarity",
    "rouge_l",
    "answer_similarity",
)
JUDGE_METRICS = ("faithfulness", "answer_relevancy")
ALL_METRICS = LOCAL_METRICS + JUDGE_METRICS
_CITATION = re.compile(r"\s*\[\d+\]")


def tiktoken_cache_dir() -> Path:
    """The tiktoken encodings that ship inside llama-index-core."""
    import llama_index.core

    return Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"


def prepare_environment() -> None:
    """Turn Ragas' telemetry off and keep tiktoken offline; call before importing ragas."""
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(tiktoken_cache_dir()))


@dataclass(frozen=True)
class RagasSample:
    """What Ragas scores for one question.

    Attributes:
        id: The golden question's id.
        question: The question asked.
        answer: The answer, without its ``[n]`` citation marks.
        reference: The golden reference answer.
        retrieved_contexts: The passages given with the answer (none for a refusal).
        reference_contexts: The book's passages holding the question's evidence.
        answerable: False for a question the book does not cover.
    """

    id: str
    question: str
    answer: str
    reference: str
    retrieved_contexts: tuple[str, ...]
    reference_contexts: tuple[str, ...]
    answerable: bool


def sample_of(row: Answered) -> RagasSample:
    """The Ragas sample of an answered golden question."""
    item, result = row.question, row.result
    return RagasSample(
        id=item.id,
        question=item.question,
        answer=_CITATION.sub("", result.answer).strip(),
        reference=item.reference_answer,
        retrieved_contexts=result.contexts if result.answered else (),
        reference_contexts=row.reference_contexts,
        answerable=item.answerable,
    )


@dataclass
class RagasOutcome:
    """Scores by question id and metric (None where a metric does not apply or failed)."""

    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)


def _value(score: Any) -> float | None:
    """A metric's float (from a float or a MetricResult); None for NaN."""
    value = float(getattr(score, "value", score))
    return None if math.isnan(value) else round(value, 4)


class _Scorer:
    """The Ragas metric objects, built once per run (imports ragas)."""

    def __init__(self, embed_model: LocalEmbedding, judge_llm: Any | None) -> None:
        from ragas.dataset_schema import SingleTurnSample
        from ragas.embeddings.base import BaseRagasEmbedding
        from ragas.metrics._context_precision import NonLLMContextPrecisionWithReference
        from ragas.metrics._context_recall import NonLLMContextRecall
        from ragas.metrics.collections import (
            AnswerRelevancy,
            Faithfulness,
            NonLLMStringSimilarity,
            RougeScore,
            SemanticSimilarity,
        )

        class LocalRagasEmbedding(BaseRagasEmbedding):
            """Our local sentence-transformers model behind Ragas' embeddings interface.

            Texts embedded ahead in one batch (``prefetch``) are served from memory: one batch
            costs far less than one model call per text.
            """

            def __init__(self) -> None:
                super().__init__()
                self.known: dict[str, list[float]] = {}

            def prefetch(self, texts: list[str]) -> None:
                todo = list(dict.fromkeys(t for t in texts if t not in self.known))
                if todo:
                    vectors = embed_model.get_text_embedding_batch(todo)
                    self.known.update(zip(todo, vectors, strict=True))

            @override
            def embed_text(self, text: str, **kwargs: Any) -> list[float]:
                if text not in self.known:
                    self.known[text] = embed_model.get_text_embedding(text)
                return self.known[text]

            @override
            async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
                if text not in self.known:
                    self.known[text] = await embed_model.aget_text_embedding(text)
                return self.known[text]

        embeddings = LocalRagasEmbedding()
        self.prefetch = embeddings.prefetch
        self._sample = SingleTurnSample
        self.precision = NonLLMContextPrecisionWithReference()
        self.recall = NonLLMContextRecall()
        self.string = NonLLMStringSimilarity()
        self.rouge = RougeScore(rouge_type="rougeL", mode="fmeasure")
        self.semantic = SemanticSimilarity(embeddings=embeddings)
        self.faithfulness = None if judge_llm is None else Faithfulness(llm=judge_llm)
        self.relevancy = (
            None if judge_llm is None else AnswerRelevancy(llm=judge_llm, embeddings=embeddings)
        )

    async def local(self, sample: RagasSample) -> dict[str, float | None]:
        """The metrics that need no LLM (None where they do not apply)."""
        scores: dict[str, float | None] = dict.fromkeys(LOCAL_METRICS)
        if not sample.answerable:
            return scores
        if sample.reference_contexts:
            if sample.retrieved_contexts:
                row = self._sample(
                    retrieved_contexts=list(sample.retrieved_contexts),
                    reference_contexts=list(sample.reference_contexts),
                )
                scores["context_precision"] = _value(await self.precision.single_turn_ascore(row))
                scores["context_recall"] = _value(await self.recall.single_turn_ascore(row))
            else:  # a refusal retrieved nothing the reader sees
                scores["context_precision"] = scores["context_recall"] = 0.0
        pair = {"reference": sample.reference, "response": sample.answer}
        scores["string_similarity"] = _value(await self.string.ascore(**pair))
        scores["rouge_l"] = _value(await self.rouge.ascore(**pair))
        scores["answer_similarity"] = _value(await self.semantic.ascore(**pair))
        return scores

    async def judged(self, sample: RagasSample) -> dict[str, float | None]:
        """Faithfulness and answer relevancy of an answer that has passages."""
        scores: dict[str, float | None] = dict.fromkeys(JUDGE_METRICS)
        if self.faithfulness is None or self.relevancy is None or not sample.retrieved_contexts:
            return scores
        scores["faithfulness"] = _value(
            await self.faithfulness.ascore(
                user_input=sample.question,
                response=sample.answer,
                retrieved_contexts=list(sample.retrieved_contexts),
            )
        )
        scores["answer_relevancy"] = _value(
            await self.relevancy.ascore(user_input=sample.question, response=sample.answer)
        )
        return scores


def _unavailable(reason: str, samples: list[RagasSample]) -> RagasOutcome:
    return RagasOutcome(
        scores={s.id: dict.fromkeys(ALL_METRICS) for s in samples},
        status={
            "available": False,
            "version": None,
            "judge": None,
            "judge_failures": 0,
            "note": reason,
        },
    )


async def score_samples(
    samples: list[RagasSample],
    embed_model: LocalEmbedding,
    judge: JudgeSettings | None = None,
    *,
    quiet: bool = False,
) -> RagasOutcome:
    """Score every sample with the metrics that need no LLM, and with the judge when given.

    A judge that fails on a question leaves that question's judged metrics None; the status
    counts the failures and keeps the first error.
    """
    prepare_environment()
    try:
        import ragas
        from ragas.llms.base import llm_factory
    except ImportError as exc:
        return _unavailable(
            f"Ragas is not installed ({exc}); install the eval extra (pip install -e '.[eval]') "
            "for context precision/recall, string, ROUGE-L and semantic answer similarity.",
            samples,
        )
    client = None
    judge_llm = None
    if judge is not None and judge.configured:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(
            base_url=judge.base_url,
            api_key=judge.api_key.get_secret_value() if judge.api_key else "",
            max_retries=0,
            timeout=judge.timeout_s,
        )
        judge_llm = llm_factory(str(judge.model), provider="openai", client=client)
    scorer = _Scorer(embed_model, judge_llm)
    outcome = RagasOutcome()
    failures: list[str] = []
    limit = asyncio.Semaphore(judge.concurrency if judge is not None else 1)

    async def judged(sample: RagasSample) -> dict[str, float | None]:
        async with limit:
            try:
                return await scorer.judged(sample)
            except Exception as exc:  # a judge's bad reply must not lose the report
                failures.append(f"{sample.id}: {type(exc).__name__}: {exc}"[:300])
                return dict.fromkeys(JUDGE_METRICS)

    try:
        # SemanticSimilarity embeds a blank text as " "
        scorer.prefetch(
            [t or " " for s in samples if s.answerable for t in (s.answer, s.reference)]
        )
        with tqdm(total=len(samples), desc="ragas", unit="q", disable=quiet) as bar:
            for sample in samples:
                outcome.scores[sample.id] = await scorer.local(sample)
                bar.update()
        if judge_llm is not None:
            with tqdm(total=len(samples), desc="judge", unit="q", disable=quiet) as bar:

                async def one(sample: RagasSample) -> None:
                    outcome.scores[sample.id].update(await judged(sample))
                    bar.update()

                await asyncio.gather(*(one(sample) for sample in samples))
        else:
            for scores in outcome.scores.values():
                scores.update(dict.fromkeys(JUDGE_METRICS))
    finally:
        if client is not None:
            await client.close()
    notes = []
    if judge_llm is None:
        notes.append(
            "No judge model configured (RAG_EVAL_JUDGE_BASE_URL, RAG_EVAL_JUDGE_MODEL, "
            "RAG_EVAL_JUDGE_API_KEY): faithfulness and answer relevancy are left out."
        )
    if failures:
        notes.append(f"The judge failed on {len(failures)} question(s); first: {failures[0]}")
    outcome.status = {
        "available": True,
        "version": ragas.__version__,
        "judge": judge.model if judge_llm is not None and judge is not None else None,
        "judge_failures": len(failures),
        "note": " ".join(notes),
    }
    return outcome
