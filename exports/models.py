# Dataset versions (immutable files, manifest, lineage, diffs) arrive with the exports issue.
