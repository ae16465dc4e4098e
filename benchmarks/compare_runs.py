"""Per-trial metric differences between two run folders of the same grid (e.g. before and after a refactoring).

Trials are matched by (data set, method, ratio, fold, seed); for every metric of ``metrics`` and ``metrics_tuned``
the largest absolute difference over the matched trials is printed per method, then the overall maximum. A
refactoring that must not change the numbers prints ``max 0``.

Run: ``python benchmarks/compare_runs.py RUN_DIR_A RUN_DIR_B`` (folders written by ``mlml reproduce``). The
issue-12 check: the default job (``mlml reproduce --out A`` on each revision) and
``mlml reproduce yeast mulan:../shared/data/mulan/emotions --methods all --ratios 0.5`` on each revision.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from mlml.experiments import ResultStore


def _by_key(run_dir: Path) -> dict[tuple, dict]:
    records = ResultStore(run_dir / "results.sqlite").records()
    return {(r["dataset"], r["method"], r["ratio"], r["fold"], r["seed"]): r for r in records if r["status"] == "done"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args()
    a, b = _by_key(args.a), _by_key(args.b)
    common = sorted(set(a) & set(b))
    print(f"{len(a)} and {len(b)} finished trials; {len(common)} in both")
    worst: dict[str, tuple[float, str]] = {}
    for key in common:
        for kind in ("metrics", "metrics_tuned"):
            left, right = a[key].get(kind) or {}, b[key].get(kind) or {}
            for name, x in left.items():
                y = right.get(name)
                if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
                    continue
                if math.isnan(x) and math.isnan(y):
                    continue
                diff = abs(x - y) if not (math.isnan(x) or math.isnan(y)) else math.inf
                if diff > worst.get(key[1], (-1.0, ""))[0]:
                    worst[key[1]] = (diff, f"{kind}.{name}")
    for method, (diff, where) in sorted(worst.items(), key=lambda item: -item[1][0]):
        print(f"{method}: {diff:.2e} ({where})")
    print("max", max((diff for diff, _ in worst.values()), default=0.0))


if __name__ == "__main__":
    main()
