#!/usr/bin/env python
"""Wall time of ``make test`` here and in another checkout, one after the other in one run.

A benchmark script, not a test: it prints figures.  For each checkout it runs the README's
test command (``make test``: the default tier; here on ``TEST_JOBS`` pytest-xdist workers,
in one process in checkouts from before the suite was spread) with its ``.venv`` already
set up, and prints the wall time, the CPU seconds of the run and its children, and pytest's
count of passed/failed/skipped tests; then, for the same coverage, this checkout's suite
limited to the tests (node ids) that the baseline has too.  Simulated boards come from the
shared cache (``~/.cache/plasticore``); run each checkout's ``make test`` once before to
measure warm runs, or set ``PLASTICORE_CACHE`` to an empty folder for cold ones.

Run::

    python benchmarks/test_suite.py --baseline /tmp/old-main      # old first, then this one
    python benchmarks/test_suite.py --baseline /tmp/old-main --json
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def run_suite(checkout: Path, make_args: list[str], log: Path) -> dict:
    """``make test`` in ``checkout`` (its output in ``log``); its wall and CPU seconds,
    pytest's counts and the tests that failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(checkout), "test",
                        *make_args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.write_text(r.stdout + r.stderr)
    summary = next((line.strip("= ") for line in reversed(r.stdout.splitlines())
                    if re.search(r"\d+ (passed|failed)", line)), "no pytest summary")
    counts = {kind: int(num) for num, kind in
              re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|deselected)", summary)}
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", r.stdout, re.M)
    return {"checkout": str(checkout), "returncode": r.returncode, "wall_s": round(wall, 1),
            "cpu_s": round((after.ru_utime - before.ru_utime)
                           + (after.ru_stime - before.ru_stime), 1),
            "counts": counts, "summary": summary, "failed": failed, "log": str(log)}


def collect(checkout: Path) -> list[str]:
    """The node ids of ``checkout``'s default tier."""
    r = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-m", "pytest",
                        "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=checkout,
                       capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if "::" in line]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, type=Path,
                        help="another checkout with its .venv set up (make setup)")
    parser.add_argument("--make-args", nargs="*", default=[],
                        help="passed to both make calls, e.g. TEST_JOBS=2")
    parser.add_argument("--logs", type=Path, default=Path("."),
                        help="folder for the two runs' output (test-suite-NAME.log)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = parser.parse_args(argv)
    rows = {}
    for name, checkout in (("baseline", args.baseline.resolve()), ("this", HERE)):
        print(f"make test in {checkout} ...", file=sys.stderr, flush=True)
        rows[name] = run_suite(checkout, args.make_args, args.logs / f"test-suite-{name}.log")
    # The same coverage: this checkout's suite limited to the tests (pytest node ids) that
    # the baseline has too (each may check more here than there).
    same = sorted(set(collect(args.baseline.resolve())) & set(collect(HERE)))
    ids = args.logs / "test-suite-same-ids.txt"
    ids.write_text("\n".join(same) + "\n")
    print(f"make test in {HERE}, the {len(same)} tests the baseline has too ...",
          file=sys.stderr, flush=True)
    rows["this, same tests"] = run_suite(HERE, [*args.make_args, f"PYTEST_ARGS=@{ids}"],
                                         args.logs / "test-suite-same.log")
    load = open("/proc/loadavg").read().split()[:3]
    base = rows["baseline"]["wall_s"]
    for name, r in rows.items():
        print(f"{name:16s} {r['wall_s']:7.1f} s wall ({r['wall_s'] / base:.2f}x), "
              f"{r['cpu_s']:7.1f} CPU s, exit {r['returncode']}: {r['summary']}")
        for test in r["failed"]:
            print(f"         failed: {test} (see {r['log']})")
    print(f"load average at the end: {' '.join(load)} (2 shared cores)")
    if args.json:
        print(json.dumps({"rows": rows, "loadavg": load}))
    return 0 if all(r["returncode"] == 0 for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
