from celery import shared_task

from agreement.services.recompute import agreement_recompute_run


@shared_task(name="agreement.tasks.agreement_recompute")
def agreement_recompute_task(job_id: int) -> str:
    """Run a full agreement recompute (the job row holds its status and progress)."""
    return agreement_recompute_run(job_id=job_id).status
