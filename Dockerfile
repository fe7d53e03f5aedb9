# Accord: one image for web (gunicorn), the Celery worker and beat. See docker-compose.yml.
FROM python:3.11-slim

# PYTHONPATH puts the code in /app before the installed copy, so that BASE_DIR (templates/,
# static/, var/) is /app for manage.py, gunicorn and celery alike.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    MEDIA_ROOT=/app/var/media

WORKDIR /app
COPY . .
# Optional extras, e.g. `--build-arg ACCORD_PIP_EXTRAS=s3` for the S3 storage (README: Storage).
ARG ACCORD_PIP_EXTRAS=""
RUN pip install ".${ACCORD_PIP_EXTRAS:+[$ACCORD_PIP_EXTRAS]}" \
    && useradd --create-home --uid 1000 accord \
    && mkdir -p /app/var/media

# Hashed, compressed static files for WhiteNoise. Production settings insist on a secret key and
# allowed hosts; these placeholders exist only for this build step.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R accord:accord /app/var

USER accord
EXPOSE 8000

CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-", "--timeout", "120"]
