"""What a WSGI server serves: gunicorn in `make run` and in the Docker image.

DEBUG is off here unless the environment says DEBUG=true: `make run` is what people deploy
from, and DEBUG on would show tracebacks and settings to anyone who hits an error. The local
settings still turn DEBUG on for manage.py's own commands (runserver, shell), the development
path the README describes.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DEBUG", "false")
application = get_wsgi_application()
