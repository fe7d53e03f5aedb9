"""Importing items from a file: CSV, JSON Lines, a JSON array, or a ZIP of images.

An import is an ImportJob row. `import_job_create` stores the upload and, after commit, enqueues
`projects.tasks.import_job_run_task`, which calls `import_job_run`. A run has three phases, each
shown on the row (`phase`, `progress`, `total`):

1. **reading**: the whole file is parsed and every row validated against the project (text or
   image, key, gold answer, priority). Valid rows go to a temporary spool file, so memory holds
   a batch and the set of keys, not the file. Any problem rejects the file whole: the job FAILS
   with errors naming line, field and value, and no item is written.
2. **storing images** (ZIPs only): each distinct image is stored once by content hash, outside
   any transaction.
3. **saving**: every row is inserted in one transaction with the job's outcome, skipping keys
   the project already has (PostgreSQL: COPY into a temporary table, then INSERT ... SELECT ...
   ON CONFLICT DO NOTHING; elsewhere bulk_create(ignore_conflicts=True)). Importing the same file
   again creates nothing.

The fields of a row (CSV columns, JSON members, manifest columns):
- `text`: the text to label; required in text projects, an optional caption with images;
- `key`: the item's key, unique in the project; when absent, `sha256:` and the first 16 hex
  digits of the SHA-256 of the text (or of the image's bytes);
- `gold`: the right answer, which makes the item a gold item: a label value; in multi-label
  projects several, as `a|b` (or a JSON list); in rating projects a whole number on the scale;
- `priority`: a number, higher is served first;
- in a ZIP manifest, `file` (or `image`): the image's path inside the ZIP;
- anything else is kept in the item's `data`.
CSV headers match these names ignoring case and surrounding spaces.

Modules: `jobs` (create, run, retry), `rows` (records, validation, problems), `zips` (ZIPs of
images), `saving` (the spool and the database writers).
"""

from projects.services.imports.jobs import (
    ProgressCallback,
    import_format_detect,
    import_job_create,
    import_job_retry,
    import_job_run,
)
from projects.services.imports.rows import RowError, shuffle_key_for

__all__ = [
    "ProgressCallback",
    "RowError",
    "import_format_detect",
    "import_job_create",
    "import_job_retry",
    "import_job_run",
    "shuffle_key_for",
]
