"""A plausible wrong anonymity filter: names compared case-sensitively, a second XFF line added."""

CLIENT_IP = {"X-Forwarded-For", "Forwarded", "X-Real-IP", "True-Client-IP", "CF-Connecting-IP"}
PROXY = {"Via", "Proxy-Connection", "X-Proxy-ID"}
SCRUBBABLE = {"user-agent", "referer", "cookie", "from"}


def forward_headers(headers, client_ip, level="anonymous", scrub=()):
    level = level.lower()
    if level not in ("transparent", "anonymous", "elite"):
        raise ValueError(level)
    scrub = {name.lower() for name in scrub}
    if not scrub <= SCRUBBABLE:
        raise ValueError(scrub)
    drop = set() if level == "transparent" else set(CLIENT_IP)
    if level == "elite":
        drop |= PROXY
    out = [(n, v) for n, v in headers if n not in drop and n.lower() not in scrub]
    if level == "transparent":
        out.append(("X-Forwarded-For", client_ip))  # wrong: a second line, not appended
    if level != "elite":
        out.append(("Via", "1.1 proxylab"))  # wrong: a second Via line too
    return out
