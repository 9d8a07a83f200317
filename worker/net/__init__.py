"""Hardened HTTP fetching: SSRF-safe address policy, pinned connections, caps and deadlines."""

from worker.net.addresses import is_public_address
from worker.net.errors import FetchError
from worker.net.fetcher import Fetcher
from worker.net.models import Fetched, FetchLimits, FetchPolicy, NotModified
from worker.net.urls import check_url

__all__ = [
    "FetchError",
    "FetchLimits",
    "FetchPolicy",
    "Fetched",
    "Fetcher",
    "NotModified",
    "check_url",
    "is_public_address",
]
