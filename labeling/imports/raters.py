"""External raters: people named in an imported file who have no Accord account.

Each is a user who can never sign in (inactive, no usable password) with a username no person
can choose (`ext:<project id>:<n>`: Django's username rules refuse the colon), and a rater
membership of the project marked external, which keeps the name the file gave
(`Membership.external_name`, and the user's first name for display). They hold no lease and get
no item from the queue: their labels come only from files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from projects.models import Membership, Project, Role

if TYPE_CHECKING:
    from labeling.models import AnnotationImportJob

NAME_CHUNK = 2_000  # names looked up per query


def external_username_prefix(project: Project) -> str:
    return f"ext:{project.pk}:"


def external_raters_ensure(
    *, project: Project, names: Sequence[str], job: AnnotationImportJob | None = None
) -> dict[str, int]:
    """The user id of the external rater of each name, making those the project lacks (and
    counting them on `job`). Returns them all.

    Run twice, or beside another import naming the same people, it makes each one once: the
    project's row is locked while the names are looked up and made (a concurrent import waits,
    then finds them), and the users, memberships and the job's count commit together.
    """
    User = get_user_model()
    found: dict[str, int] = {}
    if not names:
        return found
    with transaction.atomic():
        # NO KEY UPDATE: foreign-key checks of claims and submits in the project (KEY SHARE)
        # go on; another import's external raters wait.
        list(Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values("pk"))
        externals = Membership.objects.filter(project=project, is_external=True)
        for start in range(0, len(names), NAME_CHUNK):
            chunk = names[start : start + NAME_CHUNK]
            found.update(
                externals.filter(external_name__in=chunk).values_list("external_name", "user_id")
            )
        missing = [name for name in dict.fromkeys(names) if name not in found]
        if not missing:
            return found
        prefix = external_username_prefix(project)
        numbers = [
            int(username.removeprefix(prefix))
            for username in User.objects.filter(username__startswith=prefix).values_list(
                "username", flat=True
            )
            if username.removeprefix(prefix).isdigit()
        ]
        first = max(numbers, default=0) + 1
        users = []
        for n, name in enumerate(missing, start=first):
            user = User(username=f"{prefix}{n}", first_name=name[:150], is_active=False)
            user.set_unusable_password()
            users.append(user)
        users = User.objects.bulk_create(users)
        Membership.objects.bulk_create(
            Membership(
                project=project, user_id=user.pk, role=Role.RATER, is_external=True,
                external_name=name,
            )
            for user, name in zip(users, missing, strict=True)
        )  # fmt: skip
        found.update((name, user.pk) for name, user in zip(missing, users, strict=True))
        if job is not None:
            type(job)._default_manager.filter(pk=job.pk).update(
                external_rater_count=F("external_rater_count") + len(missing)
            )
    return found
