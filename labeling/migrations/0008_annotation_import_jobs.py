"""Annotation imports: the job row of an import of annotations made elsewhere, and on each
annotation the import that brought it in (None for labels made in Accord).

The new column is nullable without a default, so adding it rewrites no row on PostgreSQL; its
index holds imported annotations only.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0007_drop_json_values'),
        ('projects', '0008_agreement_rules_external_raters_extra_slots'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AnnotationImportJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('phase', models.CharField(blank=True, max_length=40)),
                ('progress', models.PositiveBigIntegerField(default=0)),
                ('total', models.PositiveBigIntegerField(blank=True, null=True)),
                ('error_count', models.PositiveIntegerField(default=0)),
                ('errors', models.JSONField(blank=True, default=list)),
                ('message', models.TextField(blank=True)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('queued_at', models.DateTimeField(blank=True, null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('source', models.CharField(default='ui', max_length=10)),
                ('file', models.FileField(max_length=255, upload_to='annotation-imports/')),
                ('original_name', models.CharField(max_length=255)),
                ('format', models.CharField(choices=[('auto', 'Detect from the file name'), ('csv', 'CSV'), ('jsonl', 'JSON Lines')], default='auto', max_length=10)),
                ('row_count', models.PositiveIntegerField(default=0, help_text='Valid rows in the file.')),
                ('created_count', models.PositiveIntegerField(default=0, help_text='New annotations.')),
                ('changed_count', models.PositiveIntegerField(default=0, help_text='Annotations whose value changed: a new revision each.')),
                ('unchanged_count', models.PositiveIntegerField(default=0, help_text='Rows whose annotation already had this value: nothing written.')),
                ('closed_count', models.PositiveIntegerField(default=0, help_text='Rows left out because a lead has resolved their item.')),
                ('external_rater_count', models.PositiveIntegerField(default=0, help_text='External raters this import added to the project.')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annotation_import_jobs', to='projects.project')),
            ],
            options={
                'verbose_name': 'annotation import',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='annotation',
            name='import_job',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.RESTRICT, related_name='annotations', to='labeling.annotationimportjob'),
        ),
        migrations.AddIndex(
            model_name='annotation',
            index=models.Index(condition=models.Q(('import_job__isnull', False)), fields=['import_job'], name='annotation_import_job'),
        ),
    ]
