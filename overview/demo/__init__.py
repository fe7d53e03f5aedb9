"""The demo projects' content, seeded by `manage.py seed_demo`: handwritten digits (a small
vendored selection of a public data set, rendered to PNG) and support tickets (generated)."""

SEED = 20240601
