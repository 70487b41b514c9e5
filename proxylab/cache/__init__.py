"""The HTTP cache of RFC 9111 (a shared cache), as the forward proxy keeps it.

``policy`` decides what may be stored and for how long (pure rules); ``validators`` handles
dates and conditional requests; ``store`` keeps entries within a byte budget (LRU);
``http_cache`` puts them together in the exchange (``HttpCache``).

This file is the package's face: the names a user types, re-exported from their modules.
"""

from proxylab.cache.http_cache import CacheOutcome, HttpCache
from proxylab.cache.policy import CachePolicy
from proxylab.cache.store import CacheStore

__all__ = [
    "CacheOutcome",
    "CachePolicy",
    "CacheStore",
    "HttpCache",
]
