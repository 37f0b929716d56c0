# onshi — one image for every role of the deployment (api, publisher, migrate); compose.yaml says which runs.
# docs/deploy.md.  Build: docker build -t onshi .
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/onshi && /opt/onshi/bin/pip install --upgrade pip && /opt/onshi/bin/pip install .

FROM python:3.11-slim
# No system packages: psycopg[binary] brings its own libpq, japanize-matplotlib the IPAex typeface.
RUN groupadd --system onshi && useradd --system --gid onshi --home-dir /var/lib/onshi --create-home onshi
COPY --from=build /opt/onshi /opt/onshi
ENV PATH=/opt/onshi/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ONSHI_VAR_DIR=/var/lib/onshi \
    ONSHI_LOG_FORMAT=json \
    ONSHI_HOST=0.0.0.0 \
    ONSHI_PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/onshi-metrics \
    WEB_CONCURRENCY=2
USER onshi
WORKDIR /var/lib/onshi
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
# The API: uvicorn with WEB_CONCURRENCY worker processes; the outbox publisher runs as its own service.
CMD ["sh", "-c", "exec onshi serve --workers \"$WEB_CONCURRENCY\" --publish-every 0"]
