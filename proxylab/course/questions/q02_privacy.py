"""Questions of ``02_privacy.ipynb``: what the site learns of you through the friend."""

from __future__ import annotations

from proxylab.course.checks import Question, one_of, same_items

QUESTIONS = (
    Question(
        "02.reveals_you",
        same_items(["transparent"]),
        "Look at the column 'site learns your address' in section 2, and at which fields "
        "carried your address there.",
    ),
    Question(
        "02.looks_direct",
        one_of("elite"),
        "Which level removed the address fields AND added nothing that names a proxy? "
        "The chart in section 2 counts both kinds of clue.",
    ),
    Question(
        "02.through_tunnel",
        same_items(["User-Agent", "Referer", "Cookie"]),
        "Section 4a: can the friend rewrite fields it cannot read? And does it add "
        "anything inside a tunnel?",
    ),
    Question(
        "02.meanings",
        one_of("b", "meaning b"),
        "Ask who configured what: was the browser told about a proxy, or did the network "
        "divert its connections?",
    ),
)
