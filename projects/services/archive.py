"""Archiving a project, and what an archived project refuses.

A project that has annotations is archived rather than deleted, so that no human label is lost;
an archived project keeps everything and changes nothing until a lead unarchives it.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict
from projects.models import Project
from projects.selectors import project_has_annotations


class ProjectArchived(Conflict):
    error_code = "project_archived"


class ProjectHasAnnotations(Conflict):
    error_code = "project_has_annotations"


def project_ensure_writable(*, project: Project) -> None:
    """Refuse any change to an archived project's settings, labels, items, imports, members or
    labeling. Reads the row as the caller loaded it (on the labeling hot path, with the request's
    credentials): no query. Taking access away (removing a member, revoking a token or an
    invitation) is not a change this guards."""
    if project.archived_at is not None:
        raise ProjectArchived(
            f"“{project.name}” is archived and read-only; a lead can unarchive it."
        )


def project_archive(*, project: Project) -> Project:
    """Archive a project: it keeps everything, changes nothing and leaves the lists (a filter
    shows it). Raters can no longer claim or label in it. Archiving twice is harmless."""
    if project.archived_at is None:
        project.archived_at = timezone.now()
        project.save(update_fields=["archived_at", "updated_at"])
    return project


def project_unarchive(*, project: Project) -> Project:
    if project.archived_at is not None:
        project.archived_at = None
        project.save(update_fields=["archived_at", "updated_at"])
    return project


ARCHIVE_INSTEAD = "archive it instead: it keeps everything and leaves the lists"


def project_delete(*, project: Project) -> None:
    """Delete a project and everything in it, if nobody has labeled anything in it yet; a
    project with annotations is archived instead (`project_archive`), so no human label is lost.

    Race: an annotation submitted after the check commits before the items are deleted; the
    items' delete then breaks its foreign key, the commit fails, and nothing is deleted."""
    if project_has_annotations(project=project):
        raise ProjectHasAnnotations(
            f"“{project.name}” has annotations, so it cannot be deleted; {ARCHIVE_INSTEAD}."
        )
    try:
        with transaction.atomic():
            project.delete()
    except IntegrityError as error:
        raise ProjectHasAnnotations(
            f"Labels arrived in “{project.name}” while it was being deleted; {ARCHIVE_INSTEAD}."
        ) from error
