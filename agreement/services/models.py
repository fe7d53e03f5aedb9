"""Fitting the project's label models over all its items at once (a full recompute), and keeping
what the live evaluation needs of them.

The consensus of each item comes from the model the project's rule names: vote shares for the
unanimous, majority and share rules; Dawid-Skene posteriors; or the posterior of the vote
weighted by the raters' gold accuracy. Dawid-Skene is fitted whatever the rule (single-label
and ratings), since the scorecards show each rater's estimated accuracy from it. Both fits are
kept (`ProjectAgreement.model`, keyed by rater id) so that a label submitted later is evaluated
live with the same parameters (`agreement.rules`): between recomputes, the live path and the
next recompute agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agreement.aggregation.dawid_skene import dawid_skene
from agreement.aggregation.majority import vote_counts, vote_shares
from agreement.aggregation.weighted import (
    DEFAULT_PRIOR_ACCURACY,
    DEFAULT_PRIOR_STRENGTH,
    gold_accuracy,
    weighted_vote,
)
from agreement.services.arrays import ProjectAnnotations
from agreement.services.evaluation import api_value
from projects.models import AgreementRule, Item, LabelKind, Project


@dataclass
class LabelModel:
    method: str
    shares: np.ndarray  # (n_items, q): the consensus model's shares (single-label, ratings)
    model: dict[str, Any] = field(default_factory=dict)  # kept for the live evaluation
    # Dawid-Skene's estimate of each rater's accuracy (sum over classes of prior x diagonal),
    # indexed like annotations.rater_ids; None where it was not fitted (multi-label).
    ds_accuracy: np.ndarray | None = None
    gold_correct: np.ndarray | None = None  # per rater, on gold items
    gold_total: np.ndarray | None = None


def gold_tally(project: Project, annotations: ProjectAnnotations) -> tuple[np.ndarray, np.ndarray]:
    """Each rater's right answers and answers on the project's gold items."""
    n_raters = len(annotations.rater_ids)
    hits = np.zeros(n_raters, dtype=np.int64)
    seen = np.zeros(n_raters, dtype=np.int64)
    gold = dict(Item.objects.filter(project=project, is_gold=True).values_list("pk", "gold_value"))
    for item_id, answer in gold.items():
        index = int(np.searchsorted(annotations.item_ids, item_id))
        if index >= len(annotations.item_ids) or annotations.item_ids[index] != item_id:
            continue
        for row in annotations.rows_of(index):
            rater = annotations.rater[row]
            seen[rater] += 1
            given = api_value(annotations.value_of(int(annotations.code[row])))
            hits[rater] += int(given == answer)
    return hits, seen


def label_model_fit(project: Project, annotations: ProjectAnnotations) -> LabelModel:
    """The shares of the model the project's rule names, over every item, and the fits kept."""
    n_items, q = len(annotations.item_ids), annotations.n_categories
    n_raters = len(annotations.rater_ids)
    hits, seen = gold_tally(project, annotations)
    if annotations.kind == LabelKind.MULTI:
        return LabelModel(
            method="majority", shares=np.zeros((n_items, 0)), gold_correct=hits, gold_total=seen
        )
    counts = vote_counts(annotations.item, annotations.code, n_items=n_items, q=q)
    shares, _ = vote_shares(counts)
    values = [api_value(v) for v in annotations.values]
    rater_keys = [str(int(r)) for r in annotations.rater_ids]
    model: dict[str, Any] = {}
    method = "majority"
    ds_accuracy = None
    if n_items and q >= 2:
        fit = dawid_skene(
            annotations.item, annotations.rater, annotations.code, n_items=n_items,
            n_raters=n_raters, q=q,
        )  # fmt: skip
        assert fit.confusion is not None and fit.priors is not None
        ds_accuracy = np.einsum("c,rcc->r", fit.priors, fit.confusion)
        model["dawid_skene"] = {
            "values": values, "priors": fit.priors.tolist(),
            "confusion": dict(zip(rater_keys, fit.confusion.tolist(), strict=True)),
            "mean": fit.confusion.mean(axis=0).tolist(), "iterations": fit.iterations,
            "converged": fit.converged,
        }  # fmt: skip
        if project.agreement_rule == AgreementRule.DAWID_SKENE:
            shares, method = fit.distribution, "dawid_skene"
        accuracy = gold_accuracy(hits, seen)
        model["weighted"] = {
            "values": values, "accuracy": dict(zip(rater_keys, accuracy.tolist(), strict=True)),
            "prior_accuracy": DEFAULT_PRIOR_ACCURACY, "prior_strength": DEFAULT_PRIOR_STRENGTH,
        }  # fmt: skip
        if project.agreement_rule == AgreementRule.WEIGHTED:
            vote = weighted_vote(
                annotations.item, annotations.rater, annotations.code, n_items=n_items,
                n_raters=n_raters, q=q, gold_correct=hits, gold_total=seen,
            )  # fmt: skip
            shares, method = vote.distribution, "weighted"
    return LabelModel(
        method=method, shares=shares, model=model, ds_accuracy=ds_accuracy, gold_correct=hits,
        gold_total=seen,
    )  # fmt: skip
