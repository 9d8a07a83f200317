"""The per-process memory ceiling of worker pool processes.

A runaway allocation (a hostile document, a parser blow-up) must fail one task with MemoryError,
not bring the kernel's OOM killer onto the whole worker: each pool process caps its own address
space (RLIMIT_AS) when it starts.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)


def set_memory_limit(limit_mb: int) -> int | None:
    """Cap this process's address space (RLIMIT_AS) at `limit_mb` MiB, so a runaway allocation
    raises MemoryError in one task instead of the kernel's OOM killer taking the worker. Returns
    the limit in bytes, or None when the platform refuses it."""
    limit = limit_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot set the memory limit of %d MiB: %s", limit_mb, exc)
        return None
    return limit
