"""The second half of 0006: the JSON value and the stored gold result go, in a transaction of
their own (PostgreSQL refuses to alter a table with the conversion's deferred checks pending)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0006_values_as_codes'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='annotation',
            name='gold_correct',
        ),
        migrations.RemoveField(
            model_name='annotation',
            name='value',
        ),
        migrations.AddConstraint(
            model_name='annotation',
            constraint=models.CheckConstraint(condition=models.Q(('label__isnull', True), ('rating__isnull', True), _connector='OR'), name='annotation_label_or_rating'),
        ),
    ]
