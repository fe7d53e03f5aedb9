from celery import shared_task

from labeling.assignment import leases_tidy


@shared_task(name="labeling.tasks.leases_tidy")
def leases_tidy_task() -> int:
    """Periodic tidy of expired leases in projects where nobody is claiming."""
    return leases_tidy()
