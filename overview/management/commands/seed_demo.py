"""`manage.py seed_demo`: demo users and two demo projects with real-looking data.

Users: `lead` (lead of both projects, staff so they can open the admin) and raters `rater1`,
`rater2`, `rater3`. Each gets a random password, printed once when the user is created; later
runs say the user exists and how to reset it (`manage.py changepassword NAME`).

Projects:
- "Handwritten digits" (image, one label 0-9, hotkeys 0-9, k=3): 300 scanned 8x8 digits of the
  UCI "Optical Recognition of Handwritten Digits" data set, vendored in `overview/demo/` (nothing
  is downloaded), rendered to 128x128 PNG with Pillow as dark ink on paper. Ten of them, one per
  digit, are gold items whose answer is the true digit.
- "Support ticket triage" (text, one label of billing / bug / feature request / account / other,
  hotkeys 1-5, k=3): 200 short customer-support messages generated from the templates of
  `overview/demo/tickets.py`, with a fixed random seed: no external data. A few mix two topics
  on purpose, so that raters disagree on some of them. The first 120 come with labels from an
  earlier vendor (three external raters, imported as annotations), so the agreement dashboard,
  the conflict queue and a first dataset version ("Vendor labels", v1) have data at once.

Both go through the real import path (`projects.services.imports`), run in this process: a ZIP
of PNGs with a `manifest.jsonl`, and a JSONL file. Running the command again changes nothing:
users, projects, members and items are only created when missing, and an import only runs for a
project that lacks some of its demo items (re-importing duplicates nothing: items are keyed).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agreement.services.recompute import agreement_recompute_request, agreement_recompute_run
from core.jobs.models import JobStatus
from exports.services.build import dataset_version_request, dataset_version_run
from labeling.imports import annotation_import_create, annotation_import_run
from labeling.members import membership_set
from overview.demo.digits import (
    DIGIT_LABELS,
    DIGITS_COUNT,
    DIGITS_INSTRUCTIONS,
    DIGITS_PROJECT,
    digits_zip,
)
from overview.demo.tickets import (
    TICKET_LABELS,
    TICKETS_COUNT,
    TICKETS_INSTRUCTIONS,
    TICKETS_PROJECT,
    tickets_jsonl,
    vendor_annotations_csv,
)
from projects.models import (
    ContentType,
    ImportJob,
    LabelKind,
    Membership,
    Project,
    Role,
)
from projects.services.imports import import_job_create, import_job_run
from projects.services.projects import project_create

if TYPE_CHECKING:
    from django.contrib.auth.models import User

LEAD_USERNAME = "lead"
RATER_USERNAMES = ("rater1", "rater2", "rater3")


# --- the projects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoProject:
    name: str
    expected_items: int
    fields: dict[str, Any]
    labels: list[dict[str, Any]]
    upload: Callable[[], SimpleUploadedFile]


DEMO_PROJECTS = (
    DemoProject(
        name=DIGITS_PROJECT,
        expected_items=DIGITS_COUNT,
        fields={
            "description": "Label scanned handwritten digits, 0 to 9.",
            "instructions": DIGITS_INSTRUCTIONS,
            "content_type": ContentType.IMAGE,
            "label_kind": LabelKind.SINGLE,
            "raters_per_item": 3,
            "gold_rate": 0.05,
        },
        labels=DIGIT_LABELS,
        upload=lambda: SimpleUploadedFile(
            "handwritten-digits.zip", digits_zip(), content_type="application/zip"
        ),
    ),
    DemoProject(
        name=TICKETS_PROJECT,
        expected_items=TICKETS_COUNT,
        fields={
            "description": "Route short customer-support messages to the team that handles them.",
            "instructions": TICKETS_INSTRUCTIONS,
            "content_type": ContentType.TEXT,
            "label_kind": LabelKind.SINGLE,
            "raters_per_item": 3,
        },
        labels=TICKET_LABELS,
        upload=lambda: SimpleUploadedFile(
            "support-tickets.jsonl", tickets_jsonl(), content_type="application/jsonl"
        ),
    ),
)


# --- the command ----------------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Create demo users (lead, rater1-3; passwords printed once) and two demo projects: "
        "handwritten digits (a vendored selection of UCI's scanned digits) and support ticket "
        "triage (generated text). "
        "Safe to run again: it only creates what is missing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        users, new_passwords = self._users()
        lead = users[LEAD_USERNAME]
        raters = [users[name] for name in RATER_USERNAMES]
        for spec in DEMO_PROJECTS:
            project = self._project(spec, lead=lead, raters=raters)
            self._items(spec, project=project, lead=lead)
            if spec.name == TICKETS_PROJECT:
                self._vendor_labels(project=project, lead=lead)
        self._print_passwords(new_passwords)

    # users

    def _users(self) -> tuple[dict[str, User], list[tuple[str, str]]]:
        accounts = get_user_model()
        users: dict[str, User] = {}
        new_passwords: list[tuple[str, str]] = []
        for username in (LEAD_USERNAME, *RATER_USERNAMES):
            user = accounts.objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(12)
                user = accounts.objects.create_user(
                    username=username,
                    email=f"{username}@example.com",
                    password=password,
                    is_staff=username == LEAD_USERNAME,
                )
                new_passwords.append((username, password))
                self.stdout.write(f"Created user {username}.")
            else:
                self.stdout.write(
                    f"User {username} exists; its password was printed when it was created. "
                    f"To set a new one: manage.py changepassword {username}"
                )
            users[username] = user
        return users, new_passwords

    def _print_passwords(self, new_passwords: list[tuple[str, str]]) -> None:
        if not new_passwords:
            return
        rule = "=" * 72
        self.stdout.write(rule)
        self.stdout.write(
            self.style.WARNING("Demo logins. The passwords are shown only this once: note them.")
        )
        for username, password in new_passwords:
            role = (
                "lead of both demo projects, can open /admin/"
                if username == LEAD_USERNAME
                else "rater in both demo projects"
            )
            self.stdout.write(f"  {username:<8} {password}   ({role})")
        self.stdout.write("Forgot one? manage.py changepassword USERNAME sets a new one.")
        self.stdout.write(rule)

    # projects and members

    def _project(self, spec: DemoProject, *, lead: User, raters: list[User]) -> Project:
        with transaction.atomic():
            project = Project.objects.filter(name=spec.name).order_by("pk").first()
            if project is None:
                project = project_create(
                    created_by=lead, name=spec.name, labels=spec.labels, **spec.fields
                )
                self.stdout.write(self.style.SUCCESS(f"Created project {spec.name!r}."))
            else:
                self.stdout.write(f"Project {spec.name!r} exists.")
            # Only add who is missing: a role a lead changed since is theirs to keep.
            members = set(
                Membership.objects.filter(project=project).values_list("user_id", flat=True)
            )
            if lead.pk not in members:
                membership_set(project=project, user=lead, role=Role.LEAD)
            for rater in raters:
                if rater.pk not in members:
                    membership_set(project=project, user=rater, role=Role.RATER)
        return project

    # items

    def _items(self, spec: DemoProject, *, project: Project, lead: User) -> None:
        have = project.items.count()
        if have >= spec.expected_items:
            self.stdout.write(f"  {spec.name!r} has its {have} items.")
            return
        upload = spec.upload()
        self.stdout.write(f"  Importing {upload.name} into {spec.name!r}...")
        job = self._import(project=project, upload=upload, lead=lead)
        self.stdout.write(
            self.style.SUCCESS(
                f"  {spec.name!r}: {job.created_count} items created, "
                f"{job.duplicate_count} already there."
            )
        )

    def _vendor_labels(self, *, project: Project, lead: User) -> None:
        """The tickets' earlier vendor labels, imported as annotations (once), the project's
        agreement computed over them, and a first dataset version built from its labels of
        record: all in this process, through the real services."""
        if project.annotations.exists():
            self.stdout.write(f"  {project.name!r} has its vendor labels.")
            return
        upload = SimpleUploadedFile(
            "vendor-labels.csv", vendor_annotations_csv(), content_type="text/csv"
        )
        job = annotation_import_create(
            project=project, uploaded_file=upload, created_by=lead, source="cli", enqueue=False
        )
        job = annotation_import_run(job_id=job.pk)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Import of the vendor labels failed: {job.message}")
        recompute = agreement_recompute_request(project=project, requested_by=lead, enqueue=False)
        agreement_recompute_run(job_id=recompute.pk)
        version = dataset_version_request(
            project=project, spec={}, requested_by=lead, name="Vendor labels", enqueue=False,
            note="The labels of record of the tickets an earlier vendor labeled.",
        )  # fmt: skip
        version = dataset_version_run(version_id=version.pk)
        conflicts = project.items.filter(status="conflict").count()
        self.stdout.write(
            self.style.SUCCESS(
                f"  {project.name!r}: {job.created_count} vendor annotations imported, "
                f"{conflicts} conflicts for the lead, dataset {version.label} built "
                f"({version.row_count} rows)."
            )
        )

    def _import(self, *, project: Project, upload: SimpleUploadedFile, lead: User) -> ImportJob:
        try:
            job = import_job_create(
                project=project, uploaded_file=upload, created_by=lead, source="cli", enqueue=False
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        # Run here, whatever the Celery setup: the demo is complete when the command returns.
        job = import_job_run(job_id=job.pk)
        if job.status != JobStatus.SUCCEEDED:
            problems = "; ".join(str(error.get("text", error)) for error in job.errors[:5])
            raise CommandError(f"Import of {job.original_name} failed: {job.message} {problems}")
        return job
