"""The job machinery: a job whose worker died is told apart from one at work, and may be retried
from the page and the API; a live run is never run twice.

alice leads the project and imports; the import's worker "dies" by leaving its heartbeat behind.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.jobs.models import JobStatus
from core.jobs.services import JobProgress, job_is_stalled, job_start
from projects.models import ImportJob, Item
from projects.services.imports import import_job_create

pytestmark = pytest.mark.django_db

CSV = "key,text\na,First message\nb,Second message\n"


def pending_job(project: Any, alice: Any) -> ImportJob:
    return import_job_create(
        project=project, uploaded_file=ContentFile(CSV.encode(), name="m.csv"),
        created_by=alice, source="ui", enqueue=False,
    )  # fmt: skip


def worker_died(job: ImportJob, *, minutes_ago: int) -> ImportJob:
    """The run started, wrote progress, and its worker was killed `minutes_ago`."""
    then = timezone.now() - timedelta(minutes=minutes_ago)
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, phase="reading", started_at=then, heartbeat_at=then, attempts=1
    )
    return ImportJob.objects.get(pk=job.pk)


def test_a_job_without_a_heartbeat_for_too_long_is_stalled(project, alice, settings):
    settings.ACCORD_JOB_STALLED_SECONDS = 600
    job = pending_job(project, alice)
    assert not job_is_stalled(job), "just queued"
    assert job_is_stalled(job, now=timezone.now() + timedelta(minutes=11)), "no worker took it"
    assert not job_is_stalled(worker_died(job, minutes_ago=2)), "at work"
    assert job_is_stalled(worker_died(job, minutes_ago=11))


def test_progress_keeps_the_heartbeat_and_a_live_run_is_not_claimed_twice(project, alice):
    job = pending_job(project, alice)
    running = job_start(ImportJob, job_id=job.pk)
    assert running is not None and running.attempts == 1
    assert job_start(ImportJob, job_id=job.pk) is None, "a second run of a live job is refused"
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    JobProgress(running).phase("reading", total=10)
    assert not job_is_stalled(ImportJob.objects.get(pk=job.pk)), "progress is a heartbeat"
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    again = job_start(ImportJob, job_id=job.pk)
    assert again is not None and again.attempts == 2, "a redelivered task resumes a dead run"


def test_the_api_shows_a_stalled_import_and_retries_it(
    project, alice, django_capture_on_commit_callbacks
):
    job = worker_died(pending_job(project, alice), minutes_ago=60)
    api = APIClient()
    api.force_authenticate(alice)
    url = f"/api/v1/projects/{project.pk}/imports/{job.pk}/"
    body = api.get(url).json()
    assert (body["status"], body["is_stalled"]) == ("running", True)

    with django_capture_on_commit_callbacks(execute=True):
        retried = api.post(f"{url}retry/")
    assert retried.status_code == 200, retried.content
    done = ImportJob.objects.get(pk=job.pk)  # tasks run in-process in these tests
    assert (done.status, done.created_count, done.attempts) == (JobStatus.SUCCEEDED, 2, 2)
    assert set(Item.objects.filter(project=project).values_list("key", flat=True)) == {"a", "b"}


def test_a_job_at_work_is_not_retried(project, alice):
    job = worker_died(pending_job(project, alice), minutes_ago=1)
    api = APIClient()
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/projects/{project.pk}/imports/{job.pk}/retry/")
    assert response.status_code == 400
    assert "no progress for 10 minutes" in response.json()["error"]["message"]
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_the_page_says_stalled_and_offers_the_retry(
    project, alice, django_capture_on_commit_callbacks
):
    job = worker_died(pending_job(project, alice), minutes_ago=60)
    client = Client()
    client.force_login(alice)
    page = client.get(f"/projects/{project.pk}/imports/{job.pk}/").content.decode()
    assert "Stalled" in page and "Retry import" in page
    assert "job-progress.js" not in page, "a stalled job is not polled"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/projects/{project.pk}/imports/{job.pk}/retry/", follow=True)
    assert "The import was started again." in response.content.decode()
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED
