"""Agreement's writes: the live evaluation of items (`evaluation`), conflicts and their
resolutions (`conflicts`), and the full recompute of a project (`recompute`)."""
