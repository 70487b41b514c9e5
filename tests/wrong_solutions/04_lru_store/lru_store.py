"""A plausible wrong LRU store: correct alone, but with no lock (races under threads)."""

from collections import OrderedDict


class LruStore:
    def __init__(self, max_bytes):
        if max_bytes < 0:
            raise ValueError("negative budget")
        self.max_bytes = max_bytes
        self.entries = OrderedDict()
        self.stored = 0

    def get(self, key):
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key, value):
        if len(value) > self.max_bytes:
            return
        if key in self.entries:
            self.stored -= len(self.entries.pop(key))
        while self.entries and self.stored + len(value) > self.max_bytes:
            _, old = self.entries.popitem(last=False)
            self.stored -= len(old)
        self.entries[key] = value
        self.stored += len(value)

    def delete(self, key):
        if key in self.entries:
            self.stored -= len(self.entries.pop(key))

    @property
    def size(self):
        return self.stored

    def __len__(self):
        return len(self.entries)
