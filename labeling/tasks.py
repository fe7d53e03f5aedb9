from celery import shared_task

from labeling.assignment import leases_tidy
from labeling.progress import project_remaining_recount


@shared_task(name="labeling.tasks.leases_tidy")
def leases_tidy_task() -> int:
    """Periodic tidy of expired leases in projects where nobody is claiming."""
    return leases_tidy()


@shared_task(name="labeling.tasks.project_remaining_recount")
def project_remaining_recount_task(project_id: int) -> int:
    """Recount a project's remaining items for the labeling page (asked for by the first
    request that found the cached figure stale; it holds the recount lock, released here)."""
    return project_remaining_recount(project_id, locked=True)
