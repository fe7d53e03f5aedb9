"""Agreement statistics as pure functions over numpy arrays (no Django): each docstring gives the
formula and its published source. `agreement.services` streams the annotations out of the
database and calls them."""
