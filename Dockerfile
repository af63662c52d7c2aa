# The API with the embedded defaults; mount a volume at /app/data to keep the index.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    RAG_DATA_DIR=/app/data
COPY pyproject.toml constraints.txt README.md ./
COPY rag rag
COPY api api
COPY ingest ingest
COPY eval eval
COPY perf perf
COPY sample_book sample_book
RUN pip install --no-cache-dir -c constraints.txt torch==2.13.0 \
        --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -c constraints.txt .
RUN useradd --create-home app && mkdir -p /app/data && chown app /app/data
USER app
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["sh", "-c", "rag-ingest --quiet sample_book/docs; rag-serve --host 0.0.0.0 --port 8000"]
