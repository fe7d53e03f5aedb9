"""Label models that turn several raters' labels into one consensus per item, as pure functions
over numpy arrays (no Django): majority vote, Dawid-Skene, a vote weighted by gold accuracy."""
