"""The page a blocked user sees: a short HTML 403 that names the rule that matched.

A block page is part of the lesson: it tells the user that the *proxy* refused (not the
site), which rule did it and whom to ask. Every value is HTML-escaped, because the URL
comes from the client (RFC 9110 section 15.5.4, 403 Forbidden).

Layer 2: pure (bytes out, no I/O).
"""

from __future__ import annotations

import html

from proxylab.forward.rules import Block

__all__ = ["block_page"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Blocked by the proxy</title>
</head>
<body>
<h1>This page is blocked</h1>
<p>The proxy did not fetch <code>{url}</code> because of the rule <code>{rule}</code>.</p>
<p>{reason}</p>
<p>If you think this is a mistake, ask the person who runs the proxy.</p>
</body>
</html>
"""


def block_page(decision: Block, url: str) -> bytes:
    """A short HTML5 page (UTF-8) for a 403 body, naming the rule; every value is escaped."""
    page = _PAGE.format(
        url=html.escape(url),
        rule=html.escape(decision.rule.name),
        reason=html.escape(decision.reason),
    )
    return page.encode("utf-8")
