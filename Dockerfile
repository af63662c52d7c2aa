# The API with its embedding model and the sample book's index baked in: the first start answers
# with no network. Build: `docker build -t textbook-rag .` (deploy/README.md: building with podman,
# offline, from a local base image).
# bookworm: the Debian release of the local base (deploy/podman) and of the tested pg_dump 15
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- deps: a virtualenv with CPU torch and the dependencies (changes only with pyproject.toml) --
FROM ${BASE_IMAGE} AS deps
# CPU wheels of torch (the PyPI build pulls CUDA); point elsewhere for a mirror.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Extra pip options for this build only, e.g. "--cert /run/host-ca.crt --find-links /wheels"
# with the files bind-mounted for the build (podman build -v); nothing of them stays in the image.
ARG PIP_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
WORKDIR /src

# Dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml constraints.txt ./
# hadolint ignore=SC2086
RUN pip install $PIP_OPTIONS -c constraints.txt --index-url "$TORCH_INDEX_URL" torch==2.13.0 \
    && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install $PIP_OPTIONS -c constraints.txt -r /tmp/requirements.txt \
    # what a server never runs: torch's C++ headers, the libraries' own test suites
    && rm -rf /opt/venv/lib/python3*/site-packages/torch/include \
    && find /opt/venv/lib/python3*/site-packages -mindepth 2 -type d -name tests -prune \
        -exec rm -rf {} +

# ---- build: the project beside the virtualenv (a small layer per release), the book's index ----
FROM deps AS build
COPY README.md ./
COPY rag rag
COPY api api
COPY ingest ingest
COPY eval eval
COPY perf perf
# setuptools from the virtualenv (torch brings it): nothing to fetch for the build backend
# hadolint ignore=SC2086
RUN pip install $PIP_OPTIONS --no-deps --no-build-isolation --target /opt/app . && rm -rf /src/build
ENV PYTHONPATH=/opt/app PATH=/opt/app/bin:/opt/venv/bin:$PATH

# The sample book's index, built here with the model the image ships (no network at run time).
COPY sample_book/docs /app/sample_book/docs
ENV RAG_DATA_DIR=/app/data
RUN rag-ingest --quiet /app/sample_book/docs

# ---- runtime: the virtualenv, the project, the index, a non-root user --------------------------
FROM ${BASE_IMAGE}
ENV PATH=/opt/app/bin:/opt/venv/bin:$PATH PYTHONPATH=/opt/app \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    RAG_DATA_DIR=/app/data RAG_DOCS_DIR=/app/sample_book/docs \
    PORT=8000
# pg_dump for the backup job (deploy/backup.sh runs in this image)
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /opt/app /opt/app
COPY --from=build /app/sample_book /app/sample_book
COPY --from=build --chown=app:app /app/data /app/data
COPY deploy/container/start.sh deploy/container/migrate.sh deploy/container/readyz.py /app/bin/
# the release, smoke, rollback and backup steps, for one-off jobs on the platform
COPY deploy/*.sh /app/deploy/
USER app
EXPOSE 8000
# /readyz: the index is published and the database answers. Render and Kubernetes use their own
# probes (render.yaml healthCheckPath); docker and podman run this one (podman: --format docker).
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 CMD ["python3", "/app/bin/readyz.py"]
# Migrate (a failure stops the container), optionally re-ingest, then serve on $PORT.
CMD ["/app/bin/start.sh"]
