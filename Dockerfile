# Hailuo video bot: one process, one SQLite file in /app/data (mount a volume there).
#   docker build -t hailuo-bot .
#   docker run -d --name hailuo-bot --env-file .env -v hailuo-data:/app/data \
#       --restart unless-stopped --stop-timeout 15 hailuo-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/app/data/bot.sqlite3

WORKDIR /app

# A fixed uid so a bind-mounted data directory can be chowned to it on the host (10001).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin bot

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY storage ./storage
RUN pip install . \
    && mkdir -p /app/data \
    && chown bot:bot /app/data \
    && chmod 700 /app/data

USER bot
VOLUME ["/app/data"]

# SIGTERM (docker stop): no new jobs, state saved, exit within 10 s; jobs resume at next start.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
