"""`newswatch serve`: a read-only web view of the store (dashboard, /metrics, /healthz, /readyz).

One process, never writing: the engine is opened read-only (`worker.serve.readonly`), pages are
server-rendered Jinja2 with autoescaping, and all feed text is escaped and bidi-isolated.
"""
