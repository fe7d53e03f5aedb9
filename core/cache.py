"""Django's Redis cache, with one client object per connection pool instead of one per call.

Django's RedisCacheClient builds a new `redis.Redis` for every get and set, and redis-py's
constructor fills a table of about 170 response callbacks each time: on the labeling hot path
that was about a tenth of a millisecond of CPU per cache call. A `redis.Redis` is safe to share
(its connections come from the pool), so each pool's is made once.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = super().get_client(key, write=write)
        return client


class ReusedClientRedisCache(RedisCache):
    """The Redis cache backend of settings.CACHES when REDIS_URL is set."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClient
