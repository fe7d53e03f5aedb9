"""Annotation values stored against the label schema: a label id (single-label), one row per
chosen label (multi-label), an integer (rating), instead of JSON. Existing annotations are
converted in primary-key batches; `gold_correct` goes (it is judged against the current gold
answer when asked)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BATCH = 5000


def values_to_codes(apps, schema_editor):
    Annotation = apps.get_model("labeling", "Annotation")
    AnnotationLabel = apps.get_model("labeling", "AnnotationLabel")
    Label = apps.get_model("projects", "Label")
    Project = apps.get_model("projects", "Project")
    kinds = dict(Project.objects.values_list("id", "label_kind"))
    label_ids = {
        (project_id, value): label_id
        for label_id, project_id, value in Label.objects.values_list("id", "project_id", "value")
    }
    last = 0
    while True:
        batch = list(
            Annotation.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "project_id", "value")[:BATCH]
        )
        if not batch:
            return
        last = batch[-1][0]
        singles, ratings, chosen = [], [], []
        for pk, project_id, value in batch:
            kind = kinds[project_id]
            if kind == "rating":
                ratings.append(Annotation(pk=pk, rating=int(value)))
            elif kind == "multi":
                chosen += [
                    AnnotationLabel(annotation_id=pk, label_id=label_ids[(project_id, v)])
                    for v in value
                ]
            else:
                singles.append(Annotation(pk=pk, label_id=label_ids[(project_id, value)]))
        Annotation.objects.bulk_update(singles, ["label"])
        Annotation.objects.bulk_update(ratings, ["rating"])
        AnnotationLabel.objects.bulk_create(chosen)


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0005_autovacuum_gently'),
        ('projects', '0006_schema_that_cannot_rot'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AnnotationLabel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('annotation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='chosen', to='labeling.annotation')),
                ('label', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.RESTRICT, related_name='+', to='projects.label')),
            ],
            options={
                'verbose_name': 'chosen label',
                'verbose_name_plural': 'multi-label annotations',
            },
        ),
        migrations.AddConstraint(
            model_name='annotationlabel',
            constraint=models.UniqueConstraint(fields=('annotation', 'label'), name='annotation_label_unique'),
        ),
        migrations.AddField(
            model_name='annotation',
            name='label',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.RESTRICT, related_name='+', to='projects.label'),
        ),
        migrations.AddField(
            model_name='annotation',
            name='rating',
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.RunPython(values_to_codes, migrations.RunPython.noop, elidable=False),
    ]
