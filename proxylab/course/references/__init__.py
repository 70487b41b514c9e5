"""The reference solutions of the graded exercises: proxylab's own code behind each exercise's interface.

An exercise asks a student to write one idea (blocklist matching, freshness, an LRU store,
smooth weighted round robin ...) behind a small interface of plain Python values. The module
here of the same name implements that interface by calling the library's implementation, so
``proxylab grade --reference`` proves that the graded tests and the library agree: a test that
the reference fails is a wrong test (or a library bug), never a hard exercise.

Nothing here re-implements a concept: each function converts the exercise's plain values to
the library's types, asks the library, and converts the answer back.

Layer 5 (an edge, part of ``proxylab.course``).
"""
