"""The rater's progress figures."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from labeling import selectors
from labeling.selectors import project_remaining
from tests.factories import make_items

pytestmark = pytest.mark.django_db


def test_remaining_is_cached_and_only_one_request_recounts_a_stale_value(project, settings):
    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    cache.clear()
    make_items(project, 3)
    assert project_remaining(project=project) == 3
    make_items(project, 2, prefix="more")
    assert project_remaining(project=project) == 3, "fresh for 60 s: served from the cache"

    key = f"accord:project:{project.pk}:remaining"
    value, _counted_at = cache.get(key)
    cache.set(key, (value, 0.0), timeout=None)  # now stale
    selectors._remaining_seen.clear()  # as seen by another process, which has no copy of its own
    cache.add(f"{key}:lock", 1)  # another request is recounting
    assert project_remaining(project=project) == 3, "stale value while someone else recounts"
    cache.delete(f"{key}:lock")
    assert project_remaining(project=project) == 5, "stale and unlocked: this request recounts"
    cache.clear()


def test_a_process_keeps_its_copy_only_while_the_shared_value_is_fresh(project, settings):
    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    cache.clear()
    selectors._remaining_seen.clear()
    make_items(project, 3)
    assert project_remaining(project=project) == 3
    key = f"accord:project:{project.pk}:remaining"
    value, counted_at = selectors._remaining_seen[key]
    selectors._remaining_seen[key] = (value, counted_at - 61)  # the copy is now stale
    make_items(project, 2, prefix="more")
    cache.delete(key)
    assert project_remaining(project=project) == 5, "a stale copy is never served"
    cache.clear()
