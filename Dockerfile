FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY tasks ./tasks
COPY alerts ./alerts
RUN pip install --no-cache-dir '.[postgres]' && useradd --system --uid 10001 newswatch
COPY newswatch.yaml ./
COPY seeds ./seeds
USER newswatch
ENTRYPOINT ["newswatch"]
CMD ["worker"]
