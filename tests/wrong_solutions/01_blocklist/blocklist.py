"""A plausible wrong blocklist: endswith/startswith without the boundary, and the LAST match wins."""


def _norm(host):
    return host.lower().rstrip(".")


def host_matches(pattern, host):
    pattern, host = _norm(pattern), _norm(host)
    if pattern.startswith("*.") or pattern.startswith("."):
        return host.endswith(pattern.lstrip("*."))  # wrong: 'notsocial.test' matches
    return host == pattern


def path_matches(prefix, path):
    return path.startswith(prefix)  # wrong: '/adsense' matches '/ads'


class Blocklist:
    def __init__(self, rules, default="allow"):
        if default not in ("allow", "block"):
            raise ValueError(default)
        for action, pattern in rules:
            if action not in ("allow", "block") or not pattern:
                raise ValueError(action)
        self.rules, self.default = list(rules), default

    def _matches(self, pattern, host, path):
        if pattern.startswith("/"):
            return path_matches(pattern, path)
        name, slash, rest = pattern.partition("/")
        return host_matches(name, host) and (not slash or path_matches("/" + rest, path))

    def first_match(self, host, path="/"):
        found = None
        for index, (_, pattern) in enumerate(self.rules):
            if self._matches(pattern, host, path):
                found = index  # wrong: keeps looking, so the last match wins
        return found

    def decide(self, host, path="/"):
        index = self.first_match(host, path)
        return self.default if index is None else self.rules[index][0]
