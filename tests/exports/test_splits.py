"""Hash splits and the frozen test split, as pure functions over keys (the builds in
test_build.py check the same across versions of a real project)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exports.services.splits import ParentSplits, Splitter, split_positions
from exports.specs import DatasetSpec

KEYS = [f"ticket-{n}" for n in range(20_000)] + ["é", "", "a\x00b", "ключ-7", "🙂"]


def spec_of(splits: dict[str, float], *, salt: str = "accord", freeze: bool = True) -> DatasetSpec:
    return DatasetSpec.from_json({
        "sources": ["consensus"], "min_confidence": 0.0, "fields": ["text"], "splits": splits,
        "salt": salt, "freeze_test": freeze, "formats": ["parquet"],
    })  # fmt: skip


def u_of(key: str, salt: str) -> float:
    """The issue's formula, written out."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def by_hash(key: str, splits: list[tuple[str, float]], salt: str) -> str:
    u, total = u_of(key, salt), 0.0
    for name, ratio in splits:
        total += ratio
        if total > u:
            return name
    return splits[-1][0]


def test_positions_are_the_formula_of_the_issue():
    positions = split_positions(KEYS, "accord")
    assert positions.tolist() == [u_of(key, "accord") for key in KEYS]
    assert ((positions >= 0) & (positions < 1)).all()


def test_each_key_goes_to_the_first_split_whose_cumulative_ratio_exceeds_its_position():
    spec = spec_of({"train": 0.7, "validation": 0.2, "test": 0.1})
    splits = Splitter(spec).assign(KEYS)
    assert splits == [by_hash(key, list(spec.splits), "accord") for key in KEYS]


def test_the_shares_follow_the_ratios():
    """With n keys, a split of ratio p holds Binomial(n, p) of them: its count stays within
    4.5 standard deviations sqrt(n p (1 - p)) of n p (a chance below 1e-5 per split of failing
    by accident; the hash is fixed, so the test is deterministic)."""
    ratios = {"train": 0.8, "validation": 0.15, "test": 0.05}
    splits = Splitter(spec_of(ratios)).assign(KEYS)
    n = len(KEYS)
    for name, p in ratios.items():
        assert abs(splits.count(name) - n * p) < 4.5 * math.sqrt(n * p * (1 - p)), name


def test_a_key_keeps_its_split_whatever_batch_it_comes_in():
    splitter = Splitter(spec_of({"train": 0.5, "test": 0.5}))
    whole = splitter.assign(KEYS)
    one_by_one = [splitter.assign([key])[0] for key in KEYS[:500]]
    reversed_batch = splitter.assign(KEYS[::-1])[::-1]
    assert one_by_one == whole[:500]
    assert reversed_batch == whole


def test_another_salt_deals_the_keys_anew():
    ratios = {"train": 0.5, "test": 0.5}
    first = Splitter(spec_of(ratios, salt="one")).assign(KEYS)
    second = Splitter(spec_of(ratios, salt="two")).assign(KEYS)
    moved = sum(a != b for a, b in zip(first, second, strict=True)) / len(KEYS)
    assert 0.45 < moved < 0.55  # independent halves: half the keys change sides


def parent_file(tmp_path: Path, splits: dict[str, str]) -> Path:
    path = tmp_path / "parent.parquet"
    table = pa.table({
        "item_key": list(splits), "text": ["x"] * len(splits), "split": list(splits.values()),
    })  # fmt: skip
    pq.write_table(table, path, row_group_size=7)  # several row groups
    return path


def test_the_parents_keys_are_read_from_its_parquet_file(tmp_path: Path):
    path = parent_file(tmp_path, {f"k{n}": "test" if n % 3 == 0 else "train" for n in range(50)})
    with open(path, "rb") as source:
        parent = ParentSplits.read(source)
    assert parent.test_keys == {f"k{n}" for n in range(0, 50, 3)}
    assert parent.keys.to_pylist() == [f"k{n}" for n in range(50)]


def test_a_frozen_test_split_only_grows(tmp_path: Path):
    """The parent split 50/50 with another salt; the version asks for 30% test. Items of the
    parent's test stay
    in test; items the parent had elsewhere never move into test: where their hash now says
    test, they take train or validation by their place within the test share (u - 0.7) / 0.3,
    laid along those two's renormalised ratios, so 6 to 1 as the ratios say; else their hash's
    split; new items go by their hash."""
    old_keys, new_keys = KEYS[:10_000], KEYS[10_000:]
    parent_spec = spec_of({"train": 0.5, "test": 0.5}, salt="last year")
    parent_splits = dict(zip(old_keys, Splitter(parent_spec).assign(old_keys), strict=True))
    parent = ParentSplits.read(str(parent_file(tmp_path, parent_splits)))
    spec = spec_of({"train": 0.6, "validation": 0.1, "test": 0.3})
    # The version lost a few of the parent's items and gained new ones.
    keys = old_keys[100:] + new_keys

    splits = dict(zip(keys, Splitter(spec, parent).assign(keys), strict=True))

    others = [("train", 0.6 / 0.7), ("validation", 0.1 / 0.7)]
    moved_out: list[str] = []
    for key in old_keys[100:]:
        if parent_splits[key] == "test":
            assert splits[key] == "test", key
        else:
            assert splits[key] != "test", key
            if by_hash(key, list(spec.splits), "accord") == "test":
                within = (u_of(key, "accord") - 0.7) / 0.3
                expected = "train" if within < others[0][1] else "validation"
                assert splits[key] == expected, key
                moved_out.append(splits[key])
            else:
                assert splits[key] == by_hash(key, list(spec.splits), "accord"), key
    for key in new_keys:
        assert splits[key] == by_hash(key, list(spec.splits), "accord"), key
    assert len(moved_out) > 500, "the parent's train items that hash into the new test share"
    # Not all to the last split (as laying u itself along train and validation would do).
    assert moved_out.count("train") / len(moved_out) == pytest.approx(6 / 7, abs=0.05)
    before = {k for k, s in parent_splits.items() if s == "test" and k in splits}
    assert before <= {k for k, s in splits.items() if s == "test"}


def test_without_freezing_the_parent_changes_nothing(tmp_path: Path):
    parent = ParentSplits.read(str(parent_file(tmp_path, dict.fromkeys(KEYS[:100], "test"))))
    spec = spec_of({"train": 0.9, "test": 0.1}, freeze=False)
    assert Splitter(spec, parent).assign(KEYS[:100]) == Splitter(spec).assign(KEYS[:100])


@pytest.mark.parametrize("count", [0, 1, 3])
def test_tiny_batches(count: int):
    splits = Splitter(spec_of({"train": 0.8, "test": 0.2})).assign(KEYS[:count])
    assert len(splits) == count
    assert isinstance(splits, list)
    assert all(isinstance(s, str) for s in splits)
    assert np.isin(splits, ["train", "test"]).all()
