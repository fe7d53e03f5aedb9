"""Label models that turn several raters' labels into one consensus per item, as pure functions
over numpy arrays (no Django): majority vote, Dawid-Skene, a vote weighted by gold accuracy.

Each takes the annotations in long form (item, rater and label code arrays, one entry per
annotation) and returns an `AggregationResult` (`result.py`):

- `majority.majority_vote`
- `dawid_skene.dawid_skene`, and `dawid_skene.dawid_skene_posterior` for a few items under a
  finished fit
- `weighted.weighted_vote` (with `weighted.gold_accuracy` and `weighted.optimal_weights`)

(Import them from their modules: the package does not re-export them, so that the module
`dawid_skene` is not shadowed by the function of the same name.)"""
