"""Importing annotations made elsewhere (a crowdsourcing platform, another tool) from a file.

An import is an AnnotationImportJob row. `annotation_import_create` stores the upload and,
after commit, enqueues `labeling.tasks.annotation_import_run_task`, which calls
`annotation_import_run`. A run has these phases, each shown on the row:

1. **reading**: the whole file is read and every row checked (the item by its key, the rater's
   name, the value against the label schema, the optional time and duration), and no item may
   have two rows of the same rater. Valid rows go to a temporary spool file. Any problem
   rejects the file whole: the job FAILS with errors naming line, field and value, and
   nothing is written.
2. **adding external raters**: a name that is not the username of a member of the project is
   an external rater of the project (`raters`), made once.
3. **saving**: the rows are written in batches, each in one transaction (`saving`): a new
   annotation for a new (item, rater), a new revision for a changed value, nothing for a value
   already there. A second import of the same file, or a retry after a crash, adds nothing twice.

The fields of a row (CSV columns, JSON members; other fields are ignored):
- `item_key`: the key of an item of the project;
- `rater`: who labeled it: a member's username, or any other name for an external rater;
- `value`: a label value; in multi-label projects a JSON list (`[]` for none) or `a|b`; in
  rating projects a whole number on the scale. Archived labels are accepted (history);
- `created_at` (optional): when, in ISO 8601; without an offset, in the server's TIME_ZONE;
- `time_spent_ms` (optional): a whole number of milliseconds (capped at 6 hours, as a submit).

Modules: `jobs` (create, run, retry), `rows` (records, validation, rater names), `raters`
(external raters), `saving` (the spool and the batches).
"""

from labeling.imports.jobs import (
    annotation_import_create,
    annotation_import_retry,
    annotation_import_run,
)

__all__ = ["annotation_import_create", "annotation_import_retry", "annotation_import_run"]
