"""`manage.py build_version <project_id> [spec options]`: build a dataset version of a project in
this process, with a progress bar: the same service and job row as the API's and the pages'.

    manage.py build_version 3 --split train=0.8 --split validation=0.1 --split test=0.1 \\
        --field text --field source --min-confidence 0.7 --name "June refresh"
    manage.py build_version 3 --retry 17
"""

from __future__ import annotations

import argparse
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.jobs.cli import progress_bar
from core.jobs.models import JobStatus
from exports.models import DatasetVersion, VersionOutcome
from exports.services.build import (
    dataset_version_request,
    dataset_version_retry,
    dataset_version_run,
)
from projects.models import Project


def _split(text: str) -> tuple[str, float]:
    name, sep, ratio = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(ratio)
    except ValueError:
        raise CommandError(f"--split takes NAME=RATIO (e.g. train=0.8), not {text!r}.") from None


class Command(BaseCommand):
    help = (
        "Build a dataset version of a project from its labels of record: Parquet (and JSON "
        "Lines and CSV), manifest.json, a dataset card and Croissant metadata. Options left out "
        "take the spec's defaults."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", type=int, help="The project's id.")
        parser.add_argument(
            "--source", action="append", dest="sources", metavar="SOURCE",
            help="A source of labels of record to take: resolution, gold, consensus "
            "(repeat for several; default: all).",
        )  # fmt: skip
        parser.add_argument(
            "--min-confidence", type=float, help="A consensus needs at least this confidence."
        )
        parser.add_argument(
            "--field", action="append", dest="fields", metavar="FIELD",
            help="An item field to include: text, image or a key of the items' data (repeat).",
        )  # fmt: skip
        parser.add_argument(
            "--split", action="append", dest="splits", metavar="NAME=RATIO", type=_split,
            help="A split and its share (repeat; the shares add up to 1).",
        )  # fmt: skip
        parser.add_argument("--salt", help="The salt of the splits' hash.")
        parser.add_argument(
            "--freeze-test", action=argparse.BooleanOptionalAction, default=None,
            help="Keep every item of the previous version's test split in it (default: on "
            "when there is a test split).",
        )  # fmt: skip
        parser.add_argument(
            "--format", action="append", dest="formats", metavar="FORMAT",
            help="parquet, jsonl or csv (repeat; Parquet is always written).",
        )  # fmt: skip
        parser.add_argument("--name", default="", help="The version's name.")
        parser.add_argument("--note", default="", help="A note on the version.")
        parser.add_argument("--user", help="Username recorded as having built it.")
        parser.add_argument(
            "--retry", type=int, metavar="VERSION_ID",
            help="Retry this failed (or stalled) build instead of starting a new one.",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(pk=options["project_id"]).first()
        if project is None:
            raise CommandError(f"No project with id {options['project_id']}.")
        try:
            version = self._version(project, options)
        except ValidationError as error:
            raise CommandError(_problems(error)) from None
        self.stdout.write(f"Dataset version build {version.pk} of {project}")
        with progress_bar(" rows") as progress:
            version = dataset_version_run(version_id=version.pk, progress=progress)
        if version.status != JobStatus.SUCCEEDED:
            raise CommandError(version.message)
        if version.outcome == VersionOutcome.UNCHANGED:
            self.stdout.write(self.style.WARNING(version.message))
        else:
            self.stdout.write(self.style.SUCCESS(version.message))
            self.stdout.write(f"Files under {version.storage_prefix}")

    def _version(self, project: Project, options: dict[str, Any]) -> DatasetVersion:
        if options["retry"] is not None:
            version = DatasetVersion.objects.filter(pk=options["retry"], project=project).first()
            if version is None:
                raise CommandError(f"No build {options['retry']} of {project}.")
            return dataset_version_retry(version=version, enqueue=False)
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
        spec: dict[str, Any] = {}
        for key in ("sources", "fields", "formats", "salt"):
            if options[key] is not None:
                spec[key] = options[key]
        if options["min_confidence"] is not None:
            spec["min_confidence"] = options["min_confidence"]
        if options["splits"]:
            spec["splits"] = dict(options["splits"])
        if options["freeze_test"] is not None:
            spec["freeze_test"] = options["freeze_test"]
        return dataset_version_request(
            project=project, spec=spec, name=options["name"], note=options["note"],
            requested_by=user, enqueue=False,
        )  # fmt: skip


def _problems(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return " ".join(
            f"{key}: {' '.join(messages)}" for key, messages in error.message_dict.items()
        )
    return " ".join(error.messages)
