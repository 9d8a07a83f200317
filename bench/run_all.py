"""Run every benchmark in its own process; each prints `key: value` lines and merges its figures
into bench/results.json. `bench/soak.py` is opt-in (10 minutes) and not run here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_matcher.py", "bench_quality.py", "bench_pipeline.py", "bench_stories.py"]
BENCHES += ["bench_backtest.py"]  # issue 11: a candidate watchlist over 10,000 stored articles
BENCHES += ["bench_scheduler.py"]  # issue 8: beat + poll CPU at 10,000 feeds (about 6 minutes)
# issue 8: three worker hosts in network namespaces, one SIGKILLed (about 4 minutes; needs root
# and iproute2, and fails saying so where namespaces cannot be created)
BENCHES += ["scaleout.py"]


def main() -> int:
    failed = 0
    for name in BENCHES:
        print(f"# {name}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name)], cwd=HERE.parent) != 0
    print(f"# results: {HERE / 'results.json'}")
    return int(failed)


if __name__ == "__main__":
    raise SystemExit(main())
