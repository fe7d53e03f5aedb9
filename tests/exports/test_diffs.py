"""The diff of two versions and the validation report (exports/diffs.py), on tables made here:
every kind of change worked out by hand, the chi-square test against a published worked example
and against scipy on random tables, and the report's warnings."""

from __future__ import annotations

import hashlib
import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import chi2, chi2_contingency
from scipy.stats.contingency import association

from exports.diffs import (
    DIFF_KINDS,
    chi_square_homogeneity,
    chi_square_sf,
    gamma_q,
    label_text,
    read_diff_columns,
    total_variation,
    validation_report,
    versions_diff,
)


def rows(*items: tuple[str, object, str, str]) -> pa.Table:
    """(key, label, split, content) each; the row hash is the sha256 of all four, as a changed
    field changes it."""
    keys, labels, splits, hashes = [], [], [], []
    for key, label, split, content in items:
        keys.append(key)
        labels.append(label)
        splits.append(split)
        hashes.append(hashlib.sha256(json.dumps([key, label, split, content]).encode()).hexdigest())
    return pa.table({"item_key": keys, "label": labels, "split": splits, "row_hash": hashes})


# --- the diff ------------------------------------------------------------------------------------


OLD = rows(
    ("a", "pos", "train", "t"),  # removed
    ("b", "pos", "train", "t"),  # unchanged
    ("c", "pos", "test", "t"),  # relabeled pos -> neg
    ("d", "neg", "train", "t"),  # relabeled neg -> pos, and moved to validation
    ("e", "neg", "train", "t"),  # changed: same label, another text
    ("f", "neg", "train", "t"),  # changed: same label, moved to test
    ("g", "pos", "train", "t"),  # relabeled pos -> neg
)
NEW = rows(
    ("h", "neu", "train", "t"),  # added
    ("g", "neg", "train", "t"),
    ("f", "neg", "test", "t"),
    ("e", "neg", "train", "t2"),
    ("d", "pos", "validation", "t"),
    ("c", "neg", "test", "t"),
    ("b", "pos", "train", "t"),
)


def test_the_diff_names_every_kind_of_change():
    diff = versions_diff(OLD, NEW)
    assert diff.counts == {"added": 1, "removed": 1, "relabeled": 3, "changed": 2, "unchanged": 1}
    assert [(t.source, t.target, t.count) for t in diff.transitions] == [
        ("pos", "neg", 2),
        ("neg", "pos", 1),
    ]
    assert [(t.source, t.target, t.count) for t in diff.split_moves] == [
        ("train", "test", 1),
        ("train", "validation", 1),
    ]
    assert {kind: list(diff.keys(kind)) for kind in DIFF_KINDS} == {
        "added": ["h"],
        "removed": ["a"],
        "relabeled": ["c", "d", "g"],
        "changed": ["e", "f"],
    }
    (moved,) = [row for row in diff.page("relabeled").rows if row.item_key == "d"]
    assert (moved.from_label, moved.to_label, moved.from_split, moved.to_split) == (
        "neg", "pos", "train", "validation",
    )  # fmt: skip
    (added,) = diff.page("added").rows
    assert (added.from_label, added.to_label, added.to_split) == (None, "neu", "train")


def test_a_version_against_itself_is_all_unchanged():
    diff = versions_diff(NEW, NEW)
    assert diff.counts == {"added": 0, "removed": 0, "relabeled": 0, "changed": 0, "unchanged": 7}
    assert diff.transitions == [] and diff.split_moves == []


def test_pages_walk_every_key_once_in_order():
    keys = [f"item-{n:03d}" for n in range(250)]
    old = rows(*((key, "pos", "train", "t") for key in keys))
    new = rows(*((key, "neg", "train", "t") for key in reversed(keys)))
    diff = versions_diff(old, new)
    seen, after, pages = [], None, 0
    while True:
        page = diff.page("relabeled", after=after, limit=100)
        seen += [row.item_key for row in page.rows]
        pages += 1
        if page.after is None:
            break
        after = page.after
    assert seen == keys and pages == 3
    assert diff.page("relabeled", after=keys[-1]).rows == []
    # A key that is not in the list pages from the next one after it.
    assert diff.page("relabeled", after="item-0995", limit=1).rows[0].item_key == "item-100"


def test_multi_label_sets_and_ratings_are_compared_as_text():
    labels = pa.array([["b", "a"], [], None, ["c"]], pa.list_(pa.string()))
    assert label_text(labels).to_pylist() == ["a|b", "", "", "c"]
    assert label_text(pa.array([4, None, 1], pa.int64())).to_pylist() == ["4", "", "1"]
    old = pa.table({"item_key": ["x", "y"], "label": pa.array([["a", "b"], ["a"]]),
                    "split": ["train", "train"], "row_hash": ["1" * 64, "2" * 64]})  # fmt: skip
    new = pa.table({"item_key": ["x", "y"], "label": pa.array([["b", "a"], ["a", "c"]]),
                    "split": ["train", "train"], "row_hash": ["1" * 64, "3" * 64]})  # fmt: skip
    diff = versions_diff(old, new)
    assert diff.counts["relabeled"] == 1 and diff.counts["unchanged"] == 1
    assert [(t.source, t.target) for t in diff.transitions] == [("a", "a|c")]


def test_the_parquet_columns_read_compactly_give_the_same_diff():
    """Read from Parquet files with their other columns: the same counts, keys and transitions
    as the tables in full."""

    def parquet(table: pa.Table) -> io.BytesIO:
        buffer = io.BytesIO()
        texts = pa.array([f"text {n}" for n in range(table.num_rows)])
        pq.write_table(table.append_column("text", texts), buffer, row_group_size=3)
        buffer.seek(0)
        return buffer

    old, new = read_diff_columns(parquet(OLD)), read_diff_columns(parquet(NEW))
    assert old.column_names == ["item_key", "label", "split", "row_hash"]
    assert len(old["row_hash"][0].as_py()) == 16
    compact, full = versions_diff(old, new), versions_diff(OLD, NEW)
    assert compact.counts == full.counts
    assert compact.transitions == full.transitions and compact.split_moves == full.split_moves
    for kind in DIFF_KINDS:
        assert compact.page(kind) == full.page(kind)


# --- the chi-square test -------------------------------------------------------------------------


def test_chi_square_on_agrestis_party_identification_by_gender():
    """Agresti, *An Introduction to Categorical Data Analysis*, 2nd ed. (Wiley, 2007), Table 2.5
    on p. 39 (party identification by gender, 2,757 respondents of the 1991 General Social
    Survey): X² = 30.1 on df = 2, P < 0.001. R's `chisq.test` documentation uses the same table
    ("From Agresti(2007) p.39") and prints X-squared = 30.07, df = 2, p-value = 2.954e-07."""
    females = {"democrat": 762, "independent": 327, "republican": 468}
    males = {"democrat": 484, "independent": 239, "republican": 477}
    result = chi_square_homogeneity([females, males])
    assert result is not None
    assert round(result.statistic, 1) == 30.1
    assert round(result.statistic, 2) == 30.07
    assert result.df == 2
    assert f"{result.p_value:.3e}" == "2.954e-07"
    assert result.n == 2757


@pytest.mark.parametrize("seed", range(40))
def test_chi_square_equals_scipys_on_random_tables(seed):
    """Independent computation: scipy's chi2_contingency (without Yates's correction, which it
    applies to 2x2 tables by default and Accord does not) and its Cramér's V."""
    rng = np.random.default_rng(seed)
    categories = int(rng.integers(2, 9))
    table = rng.integers(0, 400, size=(2, categories))
    table[:, table.sum(axis=0) == 0] = 1  # scipy refuses a category no row has
    ours = chi_square_homogeneity(
        [{f"l{j}": int(count) for j, count in enumerate(row)} for row in table]
    )
    theirs = chi2_contingency(table, correction=False)
    assert ours is not None
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-12)
    assert ours.df == theirs.dof
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-300)
    assert ours.cramers_v == pytest.approx(association(table, method="cramer"), rel=1e-9)


def test_the_chi_square_tail_equals_scipys_far_into_both_tails():
    for df in (1, 2, 3, 5, 10, 37, 100, 999):
        for statistic in (1e-6, 0.01, 0.5, 1, df / 2, df, df + 1, 2 * df, 5 * df + 30, 600):
            expected = chi2.sf(statistic, df)
            assert chi_square_sf(statistic, df) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert gamma_q(3.0, 0.0) == 1.0
    assert gamma_q(1.0, 2.0) == pytest.approx(math.exp(-2.0), rel=1e-14)  # Q(1, x) = e^-x


def test_nothing_to_compare_has_no_test():
    assert chi_square_homogeneity([{"a": 3}, {"a": 5}]) is None
    assert chi_square_homogeneity([{"a": 3, "b": 1}, {}]) is None


def test_total_variation_distance():
    assert total_variation({"a": 1, "b": 1}, {"a": 3, "b": 1}) == pytest.approx(0.25)
    assert total_variation({"a": 5}, {"b": 2}) == 1.0
    assert total_variation({"a": 5, "b": 5}, {"a": 1, "b": 1}) == 0.0
    assert total_variation({}, {"a": 1}) is None


# --- the validation report -----------------------------------------------------------------------


def labeled(counts: dict[tuple[str, str], int], *, prefix: str = "i") -> pa.Table:
    """A table with `count` items of each (split, label)."""
    items = []
    for (split, label), count in counts.items():
        items += [(f"{prefix}-{split}-{label}-{n}", label, split, "t") for n in range(count)]
    return rows(*items)


def test_a_first_version_is_checked_against_itself_only():
    table = labeled({("train", "pos"): 50, ("train", "neg"): 50, ("test", "pos"): 9,
                     ("test", "neg"): 1})  # fmt: skip
    report = validation_report(None, table, None, table.schema, drift_threshold=0.2)
    assert report["items"] is None and report["parent_rows"] is None and report["rows"] == 110
    assert report["labels"]["version"] == {"neg": 51, "pos": 59}
    assert report["labels"]["chi_square"] is None
    (test, train) = report["splits"]
    assert test["split"] == "test" and test["count"] == 10 and test["from_parent"] is None
    # The test split is 90% pos against 59/110 overall: 0.9 - 0.536 = 0.364 > 0.2.
    assert test["from_whole"]["total_variation"] == pytest.approx(0.9 - 59 / 110, abs=1e-6)
    assert test["from_whole"]["drifted"] and not train["from_whole"]["drifted"]
    assert report["warnings"] == [
        "Split 'test' differs from the whole version by 0.364 (total variation), over the "
        "threshold of 0.2."
    ]
    json.dumps(report)  # it goes into manifest.json as it is


def test_a_version_is_checked_against_its_parent():
    parent = labeled({("train", "pos"): 40, ("train", "neg"): 40, ("test", "pos"): 10,
                      ("test", "neg"): 10})  # fmt: skip
    # The same items, but half of the test split's negatives relabeled positive, and a new
    # label among new training items.
    table = labeled({("train", "pos"): 40, ("train", "neg"): 40, ("test", "pos"): 10,
                     ("test", "neg"): 5})  # fmt: skip
    relabeled = rows(*((f"i-test-neg-{n}", "pos", "test", "t") for n in range(5, 10)))
    mixed = rows(*((f"new-{n}", "mixed", "train", "t") for n in range(4)))
    table = pa.concat_tables([table, relabeled, mixed])
    schema = table.schema.append(pa.field("image", pa.string()))
    report = validation_report(parent, table, parent.schema, schema, drift_threshold=0.15)

    assert report["items"] == {"added": 4, "removed": 0, "relabeled": 5, "changed": 0,
                               "unchanged": 95}  # fmt: skip
    assert report["schema"]["added"] == [{"name": "image", "type": "string"}]
    assert report["labels"]["appeared"] == ["mixed"] and report["labels"]["disappeared"] == []
    expected = chi2_contingency([[50, 50, 0], [55, 45, 4]], correction=False)
    test = report["labels"]["chi_square"]
    assert test["statistic"] == pytest.approx(expected.statistic, abs=1e-6)
    assert test["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    splits = {entry["split"]: entry for entry in report["splits"]}
    # The test split went from 10/10 to 15/5: a total variation distance of 0.25.
    assert splits["test"]["from_parent"]["total_variation"] == 0.25
    assert splits["test"]["from_parent"]["drifted"]
    assert splits["train"]["from_parent"]["total_variation"] == pytest.approx(4 / 84, abs=1e-6)
    assert not splits["train"]["from_parent"]["drifted"]
    assert report["warnings"] == [
        "The columns changed since the parent: added image.",
        "Labels new since the parent: mixed.",
        # 15 pos and 5 neg of 20 against 55, 45 and 4 mixed of 104: ½(0.221 + 0.183 + 0.038).
        "Split 'test' differs from the whole version by 0.221 (total variation), over the "
        "threshold of 0.15.",
        "Split 'test' drifted by 0.250 (total variation) from the parent's, over the "
        "threshold of 0.15.",
    ]


def test_a_multi_label_report_counts_each_label_an_item_carries():
    table = pa.table({"item_key": ["x", "y", "z"],
                      "label": pa.array([["a", "b"], ["a"], ["b", "c"]]),
                      "split": ["train", "train", "test"],
                      "row_hash": ["1", "2", "3"]})  # fmt: skip
    report = validation_report(table, table, table.schema, table.schema, drift_threshold=0.5)
    assert report["unit"] == "label"
    assert report["labels"]["version"] == {"a": 2, "b": 2, "c": 1}
    assert report["labels"]["total_variation"] == 0.0
    assert report["items"]["unchanged"] == 3


def test_splits_new_and_gone_are_named():
    parent = labeled({("train", "pos"): 3, ("dev", "neg"): 3})
    table = labeled({("train", "pos"): 3, ("holdout", "neg"): 3}, prefix="j")
    report = validation_report(parent, table, parent.schema, table.schema, drift_threshold=1.0)
    warnings = report["warnings"]
    assert "Split 'holdout' is new since the parent." in warnings
    assert "Split 'dev' of the parent is gone." in warnings
