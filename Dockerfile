# kaizen-bot: a slim image running `kaizen serve` as a non-root user.
# Migrations are a separate, explicit step (run once per release, before starting servers):
#   docker run --rm -e DATABASE_URL=postgresql://… kaizen-bot kaizen db upgrade
#   docker run -p 3978:3978 -e DATABASE_URL=postgresql://… kaizen-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KAIZEN_HOST=0.0.0.0 \
    KAIZEN_PORT=3978

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
COPY migrations ./migrations
RUN pip install . \
    && useradd --create-home --uid 10001 kaizen \
    && mkdir -p /data && chown kaizen:kaizen /data

USER kaizen
# The SQLite default lives on a volume; production sets DATABASE_URL to PostgreSQL.
ENV DATABASE_URL=sqlite+aiosqlite:////data/kaizen.db
VOLUME ["/data"]
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"KAIZEN_PORT\"]}/readyz', timeout=4)"
CMD ["kaizen", "serve"]
