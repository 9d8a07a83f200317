FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The exact, hash-checked versions the test suite passed with (the runtime subset of the lock).
COPY requirements/runtime.lock ./requirements/
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY tasks ./tasks
COPY alerts ./alerts
RUN pip install --no-cache-dir --no-deps . && useradd --system --uid 10001 newswatch
COPY newswatch.yaml ./
COPY seeds ./seeds
USER newswatch
ENTRYPOINT ["newswatch"]
CMD ["worker"]
