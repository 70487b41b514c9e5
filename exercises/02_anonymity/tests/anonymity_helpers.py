"""Small helpers shared by the anonymity tests (not a test file)."""


def names(fields):
    """The lower-case field names, in order."""
    return [name.lower() for name, _ in fields]


def values(fields, name):
    """Every value of the field ``name`` (any case), in order."""
    return [value for field, value in fields if field.lower() == name.lower()]


BROWSER = [
    ("Host", "news.test"),
    ("User-Agent", "Mozilla/5.0 (lab)"),
    ("Accept", "text/html"),
    ("Cookie", "session=42"),
    ("Referer", "http://school.test/"),
]
