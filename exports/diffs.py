"""Comparing two versions of a dataset: the diff between any two, and the validation report of a
version against its parent.

Pure functions over pyarrow Tables in the row format of a version (exports/services/rows.py),
of which they read four columns: `item_key`, `label`, `split` and `row_hash`
(`DIFF_COLUMNS`; read only those from the Parquet file: `read_diff_columns`). No Django here.

Labels are compared as text (`label_text`): a single label as itself, a rating as its number, a
multi-label set as its labels sorted and joined by "|" ("a|b"), so that a transition reads
"a|b -> b". Label distributions count items for single labels and ratings, and label occurrences
for multi-label sets (each label an item carries counts once).

The statistics, each with its reference in its docstring:
- Pearson's chi-square test of homogeneity over the label counts of two tables, with its p-value
  from the chi-square distribution (`chi_square_sf`, the regularized upper incomplete gamma
  function) and Cramér's V as its effect size;
- the total variation distance between two label distributions, which is what the drift
  threshold bounds (the chi-square test finds any shift significant on a million rows; the
  distance says how large it is).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DIFF_COLUMNS = ("item_key", "label", "split", "row_hash")
LABEL_SEPARATOR = "|"

DiffKind = Literal["added", "removed", "relabeled", "changed"]
DIFF_KINDS: tuple[DiffKind, ...] = ("added", "removed", "relabeled", "changed")


def read_diff_columns(source: str | IO[bytes], *, batch_size: int = 65_536) -> pa.Table:
    """The four columns a diff or a validation report reads, from a version's Parquet file (a
    path or an open binary file), a batch of rows at a time: labels and splits
    dictionary-encoded, and each row hash cut to its first HASH_PREFIX hex digits. A million
    rows take about 50 MB this way, against some 170 MB for the four columns as written (the
    hashes are most of it) and far more for the whole rows.

    Two rows of one item whose hashes share 64 bits are taken as equal: a chance of 2^-64 per
    item that a changed row counts as unchanged."""
    parquet = pq.ParquetFile(source)
    batches = [
        pa.record_batch(
            [
                batch.column("item_key"),
                _compact_label(batch.column("label")),
                pc.dictionary_encode(batch.column("split")),
                hash_prefix(batch.column("row_hash")),
            ],
            names=list(DIFF_COLUMNS),
        )
        for batch in parquet.iter_batches(batch_size=batch_size, columns=list(DIFF_COLUMNS))
    ]
    if not batches:
        return parquet.schema_arrow.empty_table().select(list(DIFF_COLUMNS))
    return pa.Table.from_batches(batches)


HASH_PREFIX = 16


def hash_prefix(hashes: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The first HASH_PREFIX hex digits of each row hash (64 bits): enough to tell two rows of
    one item apart."""
    return pc.utf8_slice_codeunits(pc.cast(hashes, pa.string()), 0, HASH_PREFIX)


def _compact_label(labels: pa.Array) -> pa.Array:
    if pa.types.is_string(labels.type) or pa.types.is_large_string(labels.type):
        return pc.dictionary_encode(labels)
    return labels


# --- labels as text ------------------------------------------------------------------------------


def label_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each row's label as one string: a multi-label list as its labels sorted and joined by
    "|", a rating (an integer) as its decimal text, a string as itself. A missing label is ""."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        text = pc.binary_join(_sorted_lists(array), LABEL_SEPARATOR)
    elif pa.types.is_string(kind):
        text = array
    else:
        text = pc.cast(array, pa.string())
    return pc.fill_null(pc.cast(text, pa.string()), "")


def _sorted_lists(lists: pa.Array) -> pa.Array:
    """The same lists with each one's values sorted (the row format already sorts them; this
    makes the comparison independent of it), in one sort over all values."""
    lists = pc.cast(lists, pa.list_(pa.string()))
    if len(lists) == 0:
        return lists
    parents = pc.list_parent_indices(lists)
    values = pc.list_flatten(lists)
    order = pc.sort_indices(
        pa.table({"parent": parents, "value": values}),
        sort_keys=[("parent", "ascending"), ("value", "ascending")],
    )
    lengths = pc.fill_null(pc.list_value_length(lists), 0)
    offsets = pa.array([0, *_cumulative(lengths)], pa.int32())
    rebuilt = pa.ListArray.from_arrays(offsets, pc.take(values, order))
    # A null list stays null (binary_join gives null, filled as "" by the caller).
    return pc.if_else(pc.is_null(lists), pa.scalar(None, rebuilt.type), rebuilt)


def _cumulative(lengths: pa.Array) -> list[int]:
    return pc.cumulative_sum(lengths).to_pylist()  # type: ignore[no-any-return]


def label_values(table: pa.Table) -> tuple[pa.Array, pa.Array, str]:
    """(the split of each label value, the label values as text, the unit counted): one value per
    item for single labels and ratings (unit "item"), one per label an item carries for
    multi-label sets (unit "label")."""
    labels = table.column("label").combine_chunks()
    splits = label_text(table.column("split"))
    if pa.types.is_list(labels.type) or pa.types.is_large_list(labels.type):
        parents = pc.list_parent_indices(labels)
        return pc.take(splits, parents), label_text(pc.list_flatten(labels)), "label"
    return splits, label_text(labels), "item"


# --- the diff of two versions -------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """`count` rows went from `source` to `target` (labels, or splits)."""

    source: str
    target: str
    count: int


@dataclass(frozen=True)
class DiffRow:
    """One item of a diff: its key and its label and split in each version (None where the
    item is not in that version)."""

    item_key: str
    from_label: str | None
    to_label: str | None
    from_split: str | None
    to_split: str | None


@dataclass(frozen=True)
class DiffPage:
    rows: list[DiffRow]
    # The last key of this page, to ask for the next one with; None on the last page.
    after: str | None


@dataclass
class VersionsDiff:
    """What changed from one version to another, by item key.

    - added: in the new version only; removed: in the old one only;
    - relabeled: in both, with another label;
    - changed: in both, same label, but another row hash (its split, text, confidence,
      agreement, annotations or any other field moved);
    - unchanged: in both with the same row hash.

    `transitions` counts the relabeled items by (old label, new label), most frequent first;
    `split_moves` counts items in both versions by (old split, new split) where they differ.
    The items of each kind are kept sorted by key, and read a page at a time (`page`).
    """

    counts: dict[str, int]
    transitions: list[Transition]
    split_moves: list[Transition]
    _rows: dict[str, pa.Table] = field(repr=False)

    def page(self, kind: DiffKind, *, after: str | None = None, limit: int = 100) -> DiffPage:
        """Up to `limit` items of `kind` with keys after `after`, by key."""
        rows = self._rows[kind]
        start = 0
        if after is not None:
            # Keys are sorted: the number of keys up to `after` is where the page starts.
            start = int(pc.sum(pc.less_equal(rows.column("item_key"), after)).as_py() or 0)
        chunk = rows.slice(start, limit)
        page = [DiffRow(**row) for row in chunk.to_pylist()]
        more = start + limit < rows.num_rows
        return DiffPage(rows=page, after=page[-1].item_key if more and page else None)

    def keys(self, kind: DiffKind) -> Iterator[str]:
        """Every key of `kind`, by key."""
        for batch in self._rows[kind].column("item_key").chunks:
            yield from batch.to_pylist()


def versions_diff(old: pa.Table, new: pa.Table, *, with_rows: bool = True) -> VersionsDiff:
    """The diff from `old` to `new` (module docstring: what each kind means). Each new row finds
    its old row through a hash lookup of its key among the old keys (`index_in`), then
    vectorised comparisons: no Python loop over rows, and less memory than a join.
    `with_rows=False` counts without keeping the items of each kind (`page` then finds none)."""
    before, after = _side(old), _side(new)
    position = pc.index_in(after["item_key"], value_set=before["item_key"])
    matched = pc.is_valid(position)
    kept = after.filter(matched)
    was = before.take(pc.drop_null(position))
    same_label = pc.equal(was["label"], kept["label"])
    same_hash = pc.equal(was["row_hash"], kept["row_hash"])
    masks = {
        "relabeled": pc.invert(same_label),
        "changed": pc.and_not(same_label, same_hash),
    }
    moved = pc.not_equal(was["split"], kept["split"])
    counts = {
        "added": after.num_rows - kept.num_rows,
        "removed": before.num_rows - was.num_rows,
        "relabeled": _count(masks["relabeled"]),
        "changed": _count(masks["changed"]),
        "unchanged": _count(same_hash),
    }
    pairs = pa.table(
        {
            "item_key": kept["item_key"],
            "from_label": was["label"],
            "to_label": kept["label"],
            "from_split": was["split"],
            "to_split": kept["split"],
        }
    )
    rows: dict[str, pa.Table] = dict.fromkeys(DIFF_KINDS, pairs.slice(0, 0))
    if with_rows:
        nothing = pa.nulls(0, pa.string())
        added = after.filter(pc.is_null(position))
        removed = before.filter(pc.invert(pc.is_in(before["item_key"], value_set=kept["item_key"])))
        rows = {
            "added": _rows(added, to_side=True, nothing=nothing),
            "removed": _rows(removed, to_side=False, nothing=nothing),
            "relabeled": pairs.filter(masks["relabeled"]).sort_by("item_key"),
            "changed": pairs.filter(masks["changed"]).sort_by("item_key"),
        }
    return VersionsDiff(
        counts=counts,
        transitions=_transitions(pairs.filter(masks["relabeled"]), "from_label", "to_label"),
        split_moves=_transitions(pairs.filter(moved), "from_split", "to_split"),
        _rows=rows,
    )


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _side(table: pa.Table) -> pa.Table:
    return pa.table(
        {
            "item_key": pc.cast(table.column("item_key"), pa.string()),
            "label": label_text(table.column("label")),
            "split": label_text(table.column("split")),
            "row_hash": hash_prefix(table.column("row_hash")),
        }
    )


def _rows(side: pa.Table, *, to_side: bool, nothing: pa.Array) -> pa.Table:
    """The items of one version only, as diff rows (None on the other side)."""
    missing = pa.nulls(side.num_rows, pa.string())
    label, split = side["label"], side["split"]
    return pa.table(
        {
            "item_key": side["item_key"],
            "from_label": missing if to_side else label,
            "to_label": label if to_side else missing,
            "from_split": missing if to_side else split,
            "to_split": split if to_side else missing,
        }
    ).sort_by("item_key")


def _transitions(table: pa.Table, source: str, target: str) -> list[Transition]:
    if table.num_rows == 0:
        return []
    grouped = table.group_by([source, target]).aggregate([("item_key", "count")])
    found = [
        Transition(source=row[source], target=row[target], count=row["item_key_count"])
        for row in grouped.to_pylist()
    ]
    return sorted(found, key=lambda t: (-t.count, t.source, t.target))


# --- statistics ---------------------------------------------------------------------------------

_EPSILON = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 100_000


def gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0.

    As in Press, Teukolsky, Vetterling and Flannery, *Numerical Recipes in C*, 2nd ed. (1992),
    §6.2: below x = a + 1 the series of P(a, x) (eq. 6.2.5, `gser`) and Q = 1 - P; above it the
    continued fraction of Q (eq. 6.2.7, `gcf`) evaluated by the modified Lentz method (§5.2),
    which keeps its relative precision when Q is tiny."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0:
        return 1.0
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        denominator = a
        for _ in range(_MAX_ITERATIONS):
            denominator += 1
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * _EPSILON:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefactor))
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = d if abs(d) >= _TINY else _TINY
        c = b + an / c
        c = c if abs(c) >= _TINY else _TINY
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPSILON:
            break
    return math.exp(log_prefactor) * h


def chi_square_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X with a chi-square distribution of `df` degrees of freedom:
    Q(df/2, statistic/2) (Numerical Recipes in C, 2nd ed., eq. 6.2.18)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    return gamma_q(df / 2, statistic / 2)


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    df: int
    p_value: float
    cramers_v: float
    n: int


def chi_square_homogeneity(rows: list[Mapping[str, int]]) -> ChiSquare | None:
    """Pearson's chi-square test that the rows (samples, e.g. a parent's and a version's label
    counts) come from one distribution over the categories (the union of their keys):

        X² = Σ_ij (O_ij - E_ij)² / E_ij,  E_ij = (row total_i)(column total_j) / n,
        df = (rows - 1)(categories - 1),

    without Yates's continuity correction (Agresti, *An Introduction to Categorical Data
    Analysis*, 2nd ed., 2007, §2.4.3). Cramér's V = sqrt(X² / (n (min(rows, categories) - 1))).
    Categories no row has are left out; None when fewer than two rows or two categories have
    any count (there is nothing to compare)."""
    rows = [row for row in rows if sum(row.values()) > 0]
    categories = sorted({key for row in rows for key, count in row.items() if count > 0})
    if len(rows) < 2 or len(categories) < 2:
        return None
    row_totals = [sum(row.get(key, 0) for key in categories) for row in rows]
    column_totals = [sum(row.get(key, 0) for row in rows) for key in categories]
    n = sum(row_totals)
    statistic = 0.0
    for row, row_total in zip(rows, row_totals, strict=True):
        for key, column_total in zip(categories, column_totals, strict=True):
            expected = row_total * column_total / n
            statistic += (row.get(key, 0) - expected) ** 2 / expected
    df = (len(rows) - 1) * (len(categories) - 1)
    smaller = min(len(rows), len(categories)) - 1
    return ChiSquare(
        statistic=statistic,
        df=df,
        p_value=chi_square_sf(statistic, df),
        cramers_v=math.sqrt(statistic / (n * smaller)),
        n=n,
    )


def total_variation(first: Mapping[str, int], second: Mapping[str, int]) -> float | None:
    """The total variation distance between the two distributions the counts give:
    ½ Σ_k |p_k - q_k|, from 0 (the same shares) to 1 (no category in common). The largest
    difference, over any set of labels, between the shares of the two. None when either has no
    count."""
    first_total, second_total = sum(first.values()), sum(second.values())
    if not first_total or not second_total:
        return None
    keys = set(first) | set(second)
    return 0.5 * sum(
        abs(first.get(key, 0) / first_total - second.get(key, 0) / second_total) for key in keys
    )


# --- the validation report ----------------------------------------------------------------------


def label_counts_by_split(table: pa.Table) -> tuple[dict[str, dict[str, int]], str]:
    """{split: {label: count}} and the unit counted ("item" or "label": `label_values`)."""
    splits, labels, unit = label_values(table)
    if len(labels) == 0:
        return {}, unit
    grouped = (
        pa.table({"split": splits, "label": labels})
        .group_by(["split", "label"])
        .aggregate([("label", "count")])
    )
    counts: dict[str, dict[str, int]] = {}
    for row in grouped.to_pylist():
        counts.setdefault(row["split"], {})[row["label"]] = row["label_count"]
    return {split: dict(sorted(found.items())) for split, found in sorted(counts.items())}, unit


def _whole(by_split: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    whole: dict[str, int] = {}
    for counts in by_split.values():
        for label, count in counts.items():
            whole[label] = whole.get(label, 0) + count
    return dict(sorted(whole.items()))


def schema_changes(before: pa.Schema | None, after: pa.Schema) -> dict[str, Any]:
    """Columns added, removed, and whose type changed, by name (types as Arrow writes them,
    e.g. "list<item: string>")."""
    if before is None:
        return {"added": [], "removed": [], "type_changed": [], "changed": False}
    old = {f.name: str(f.type) for f in before}
    new = {f.name: str(f.type) for f in after}
    added = [{"name": name, "type": new[name]} for name in new if name not in old]
    removed = [{"name": name, "type": old[name]} for name in old if name not in new]
    retyped = [
        {"name": name, "from": old[name], "to": new[name]}
        for name in new
        if name in old and old[name] != new[name]
    ]
    return {
        "added": added,
        "removed": removed,
        "type_changed": retyped,
        "changed": bool(added or removed or retyped),
    }


def _test(first: Mapping[str, int], second: Mapping[str, int]) -> dict[str, Any] | None:
    result = chi_square_homogeneity([first, second])
    if result is None:
        return None
    return {
        "statistic": round(result.statistic, 6),
        "df": result.df,
        "p_value": result.p_value,
        "cramers_v": round(result.cramers_v, 6),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def validation_report(
    parent: pa.Table | None,
    table: pa.Table,
    parent_schema: pa.Schema | None,
    schema: pa.Schema,
    *,
    drift_threshold: float,
) -> dict[str, Any]:
    """A version checked against its parent (None for a first version), for its manifest and
    its page: JSON-ready.

    - `schema`: columns added, removed, retyped (`schema_changes`);
    - `labels`: the label counts of both, the chi-square test of homogeneity between them, the
      total variation distance, and the labels that appeared or disappeared;
    - `items`: added, removed, relabeled, changed, unchanged (`versions_diff`);
    - `splits`: each split's rows and label counts, its distance from the same split of the
      parent and from the whole version, each with the chi-square test behind it;
    - `warnings`: one sentence for each split whose label distribution is farther than
      `drift_threshold` (total variation) from the parent's same split or from the whole
      version, for the schema's changes, and for labels that appeared or disappeared.
    Tables need `DIFF_COLUMNS`; the schemas are the Parquet files' own (every column).
    """
    by_split, unit = label_counts_by_split(table)
    whole = _whole(by_split)
    warnings: list[str] = []
    report: dict[str, Any] = {
        "drift_threshold": drift_threshold,
        "unit": unit,
        "schema": schema_changes(parent_schema, schema),
    }
    parent_by_split: dict[str, dict[str, int]] = {}
    parent_whole: dict[str, int] = {}
    if parent is not None:
        parent_by_split, _ = label_counts_by_split(parent)
        parent_whole = _whole(parent_by_split)
        diff = versions_diff(parent, table, with_rows=False)
        report["items"] = diff.counts
        report["parent_rows"] = parent.num_rows
    else:
        report["items"] = None
        report["parent_rows"] = None
    report["rows"] = table.num_rows

    appeared = sorted(set(whole) - set(parent_whole)) if parent is not None else []
    disappeared = sorted(set(parent_whole) - set(whole)) if parent is not None else []
    distance = total_variation(parent_whole, whole) if parent is not None else None
    report["labels"] = {
        "parent": parent_whole if parent is not None else None,
        "version": whole,
        "appeared": appeared,
        "disappeared": disappeared,
        "total_variation": _rounded(distance),
        "chi_square": _test(parent_whole, whole) if parent is not None else None,
        "drifted": distance is not None and distance > drift_threshold,
    }

    changes = report["schema"]
    if changes["changed"]:
        parts = [f"added {c['name']}" for c in changes["added"]]
        parts += [f"removed {c['name']}" for c in changes["removed"]]
        parts += [f"{c['name']} {c['from']} -> {c['to']}" for c in changes["type_changed"]]
        warnings.append("The columns changed since the parent: " + ", ".join(parts) + ".")
    if appeared:
        warnings.append("Labels new since the parent: " + ", ".join(appeared) + ".")
    if disappeared:
        warnings.append("Labels no longer in the dataset: " + ", ".join(disappeared) + ".")
    if report["labels"]["drifted"]:
        warnings.append(
            f"The label distribution moved by {distance:.3f} (total variation) since the "
            f"parent, over the threshold of {drift_threshold:g}."
        )

    splits = []
    for split, counts in by_split.items():
        rows = sum(counts.values())
        entry: dict[str, Any] = {"split": split, "count": rows, "labels": counts}
        from_whole = total_variation(counts, whole)
        entry["from_whole"] = {
            "total_variation": _rounded(from_whole),
            "chi_square": _test(counts, whole),
            "drifted": from_whole is not None and from_whole > drift_threshold,
        }
        if entry["from_whole"]["drifted"]:
            warnings.append(
                f"Split '{split}' differs from the whole version by {from_whole:.3f} (total "
                f"variation), over the threshold of {drift_threshold:g}."
            )
        before = parent_by_split.get(split)
        if parent is None or before is None:
            entry["from_parent"] = None
            if parent is not None:
                warnings.append(f"Split '{split}' is new since the parent.")
        else:
            from_parent = total_variation(before, counts)
            entry["from_parent"] = {
                "parent_count": sum(before.values()),
                "total_variation": _rounded(from_parent),
                "chi_square": _test(before, counts),
                "drifted": from_parent is not None and from_parent > drift_threshold,
            }
            if entry["from_parent"]["drifted"]:
                warnings.append(
                    f"Split '{split}' drifted by {from_parent:.3f} (total variation) from the "
                    f"parent's, over the threshold of {drift_threshold:g}."
                )
        splits.append(entry)
    for split in sorted(set(parent_by_split) - set(by_split)):
        warnings.append(f"Split '{split}' of the parent is gone.")
    report["splits"] = splits
    report["warnings"] = warnings
    return report
