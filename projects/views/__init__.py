"""Pages of the projects app, one module per part: settings, items, imports, tokens."""
