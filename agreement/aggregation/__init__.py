"""Label models that turn several raters' labels into one consensus per item, as pure functions
over numpy arrays (no Django): majority vote, Dawid-Skene, a vote weighted by gold accuracy.

Each takes the annotations in long form (item, rater and label code arrays, one entry per
annotation) and returns an `AggregationResult`."""

from agreement.aggregation.dawid_skene import dawid_skene, dawid_skene_posterior
from agreement.aggregation.majority import majority_vote
from agreement.aggregation.result import NO_LABEL, AggregationResult
from agreement.aggregation.weighted import gold_accuracy, optimal_weights, weighted_vote

__all__ = [
    "NO_LABEL",
    "AggregationResult",
    "dawid_skene",
    "dawid_skene_posterior",
    "gold_accuracy",
    "majority_vote",
    "optimal_weights",
    "weighted_vote",
]
