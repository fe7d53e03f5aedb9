"""The Celery app.

With REDIS_URL set, tasks go to Redis and a real worker runs them. Without it (the embedded
default), tasks run in-process, eagerly, at the point where they are enqueued (which services do
in `transaction.on_commit`).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("accord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
