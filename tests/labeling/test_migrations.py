"""Annotations stored as JSON before the values became codes of the schema are converted by
the migration, and read back the same through the API's shapes."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("labeling", "0005_autovacuum_gently"), ("projects", "0005_import_job_on_core_job")]
AFTER = [("labeling", "0007_drop_json_values")]


@pytest.mark.django_db(transaction=True)
def test_json_values_become_codes_of_the_schema() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model("auth", "User")
    Project, Label = old.get_model("projects", "Project"), old.get_model("projects", "Label")
    Item, Annotation = old.get_model("projects", "Item"), old.get_model("labeling", "Annotation")
    rater = User.objects.create(username="bob")
    made: dict[str, tuple[int, object]] = {}
    for kind, values, value in (
        ("single", ["pos", "neg"], "neg"),
        ("multi", ["cat", "dog", "bird"], ["bird", "cat"]),
        ("multi", ["cat", "dog"], []),
        ("rating", [], 4),
    ):
        project = Project.objects.create(
            name=kind, label_kind=kind, rating_min=1 if kind == "rating" else None,
            rating_max=5 if kind == "rating" else None,
        )  # fmt: skip
        for position, label in enumerate(values):
            Label.objects.create(
                project=project, value=label, display_name=label, position=position
            )
        item = Item.objects.create(project=project, key="k", text="t", content_hash="h")
        annotation = Annotation.objects.create(
            project=project, item=item, rater=rater, value=value, client_id=uuid.uuid4()
        )
        made[f"{kind}:{value!r}"] = (annotation.pk, value)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    from labeling.models import Annotation as Current

    for pk, value in made.values():
        annotation = Current.objects.select_related("label").prefetch_related("chosen__label")
        assert annotation.get(pk=pk).value == value
    single = Current.objects.get(pk=made["single:'neg'"][0])
    assert single.label is not None and single.label.value == "neg" and single.rating is None
    assert Current.objects.get(pk=made["rating:4"][0]).rating == 4
