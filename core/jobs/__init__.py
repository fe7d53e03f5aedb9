"""Long work as a row: one machinery for every kind of job (imports of items and annotations,
agreement recomputes, dataset builds, feedback ingests).

- `models.Job`: the abstract row (status, phase, progress, total, errors, message, attempts,
  timestamps and a heartbeat). Each kind subclasses it with its own inputs and counts.
- `services`: `job_start` (claim a run of a row, counting the attempt), `JobProgress` (writes
  progress and the heartbeat as the work goes), `job_fail`, `job_retry` and `job_is_stalled`
  (a running job whose heartbeat stopped lost its worker; a pending one no worker took).
- `cli.progress_bar`: the progress bar of a management command that runs a job in-process.
- `api.JOB_FIELDS` and `views.job_state`: the same fields in the API and for the UI's poller
  (`templates/core/_job_progress.html` with `static/js/job-progress.js`).
"""
