# Multi-stage: build a wheel with its pinned dependencies, then a slim runtime as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN python -m pip install --no-cache-dir --upgrade pip \
 && python -m pip wheel --no-cache-dir -c constraints.txt --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 datahub && mkdir /data && chown datahub /data
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
RUN python -m pip install --no-cache-dir -c /tmp/constraints.txt /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
USER datahub
ENV DATAHUB_MIGRATIONS_DIR=/app/migrations \
    DATAHUB_DATA_DIR=/data \
    DATAHUB_HOST=0.0.0.0 \
    DATAHUB_PORT=8000 \
    DATAHUB_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["sh", "-c", "datahub-api migrate && exec datahub-api serve"]
