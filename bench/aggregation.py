"""Benchmark: the label models of agreement/aggregation on 1,000,000 simulated annotations.

    .venv/bin/python bench/aggregation.py [--items 333334] [--raters 50] [--per-item 3] [--q 5]

Builds (seeded) a project of `items` items each rated by `per-item` distinct raters out of
`raters`, whose confusion matrices are random (each rater right 55-95% of the time, with their
mistakes spread unevenly over the other labels), then times on this machine, in memory only
(no database):

- a full Dawid-Skene fit (default smoothing, tol and max_iter), with its peak memory as
  tracemalloc counts it (the numpy arrays the fit allocates; not the input arrays);
- majority vote on the same annotations;
- the posterior of one item with 3 ratings under the fitted parameters (the submit path),
  median of many calls.

Each line is `name key=value ...`. Accuracies are against the simulated truth.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agreement.aggregation.dawid_skene import (
    dawid_skene,
    dawid_skene_posterior,
)
from agreement.aggregation.majority import majority_vote


def simulate(
    *, n_items: int, n_raters: int, per_item: int, q: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.55, 0.95, size=n_raters)
    mistakes = rng.dirichlet(np.ones(q - 1), size=(n_raters, q))  # how each rater errs
    confusion = np.empty((n_raters, q, q))
    for c in range(q):
        others = [label for label in range(q) if label != c]
        confusion[:, c, c] = accuracy
        confusion[:, c, others] = (1 - accuracy)[:, None] * mistakes[:, c]
    truth = rng.integers(0, q, size=n_items)
    items = np.repeat(np.arange(n_items), per_item)
    # per_item distinct raters per item: the first columns of a random permutation per row.
    raters = np.argsort(rng.random((n_items, n_raters)), axis=1)[:, :per_item].ravel()
    cumulative = confusion[raters, truth[items]].cumsum(axis=1)
    labels = np.minimum((rng.random(items.size)[:, None] > cumulative).sum(axis=1), q - 1)
    return items, raters, labels, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=333_334)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--per-item", type=int, default=3)
    parser.add_argument("--q", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shape = {"n_items": args.items, "n_raters": args.raters, "q": args.q}

    items, raters, labels, truth = simulate(
        n_items=args.items, n_raters=args.raters, per_item=args.per_item, q=args.q, seed=args.seed
    )
    annotations = items.size

    started = time.perf_counter()
    fitted = dawid_skene(items, raters, labels, **shape)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    dawid_skene(items, raters, labels, **shape)
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    print(
        f"aggregation.dawid_skene items={args.items} annotations={annotations} "
        f"raters={args.raters} q={args.q} seconds={seconds:.3f} "
        f"iterations={fitted.iterations} converged={fitted.converged} "
        f"peak_mb={peak_mb:.1f} accuracy={(fitted.label == truth).mean():.4f}"
    )

    started = time.perf_counter()
    majority = majority_vote(items, raters, labels, **shape)
    seconds = time.perf_counter() - started
    print(
        f"aggregation.majority_vote items={args.items} annotations={annotations} "
        f"seconds={seconds:.3f} ties={int(majority.tie.sum())} "
        f"accuracy={(majority.label == truth).mean():.4f} (a tie counts as wrong)"
    )

    assert fitted.confusion is not None and fitted.priors is not None
    one_item = np.zeros(3, dtype=np.intp)
    its_raters, its_labels = raters[:3], labels[:3]
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        for _ in range(100):
            dawid_skene_posterior(one_item, its_raters, its_labels, fitted.confusion, fitted.priors)
        timings.append((time.perf_counter() - started) / 100)
    print(
        f"aggregation.dawid_skene_posterior items=1 annotations=3 "
        f"microseconds={statistics.median(timings) * 1e6:.1f}"
    )


if __name__ == "__main__":
    main()
