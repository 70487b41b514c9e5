"""Your own balancer on the command line: ``proxylab reverse --balancer mymodule:MyBalancer``.

A balancer is one class (``Balancer.choose``, see ``proxylab.reverse.balancers``), so a
student who wrote one should be able to put it behind a running waiter without writing a
script. ``--balancer`` therefore takes either a built-in name (``round-robin``, ``p2c``
...) or ``MODULE:CLASS``, the spec style of uvicorn and gunicorn: the module is imported
(the current folder comes first on the path, so ``mybalancer.py`` next to you is found),
the class must be a ``Balancer`` subclass, and it is built with no arguments. One
instance serves every route and every client thread: guard its state with a lock.

Layer 5 (an edge).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from proxylab.reverse.balancers import BALANCERS, Balancer

__all__ = ["balancer_argument", "describe_balancer"]


def balancer_argument(text: str) -> str | Balancer:
    """``argparse`` type: a built-in balancer's name, or a ``Balancer`` built from MODULE:CLASS."""
    if text in BALANCERS:
        return text
    module_name, sep, class_name = text.partition(":")
    if not sep or not module_name or not class_name:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a balancer: use one of {', '.join(sorted(BALANCERS))}, "
            "or MODULE:CLASS for your own (e.g. mybalancer:Fastest)."
        )
    return _build(_load(module_name, class_name), text)


def _load(module_name: str, class_name: str) -> type[Balancer]:
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)  # as uvicorn does: your module next to you is found
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise argparse.ArgumentTypeError(
            f"cannot import {module_name!r} ({error}); run the command from the folder that "
            f"holds {module_name.replace('.', '/')}.py"
        ) from None
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, Balancer)):
        raise argparse.ArgumentTypeError(
            f"{module_name}:{class_name} is not a Balancer subclass "
            "(from proxylab.reverse import Balancer; class MyBalancer(Balancer): ...)."
        )
    return found


def _build(cls: type[Balancer], text: str) -> Balancer:
    try:
        return cls()
    except TypeError as error:
        raise argparse.ArgumentTypeError(
            f"{text} must be buildable with no arguments ({error}); give its parameters defaults."
        ) from None


def describe_balancer(balancer: str | Balancer) -> str:
    """How the startup panel names the balancer in force."""
    if isinstance(balancer, str):
        return balancer
    cls = type(balancer)
    return f"{cls.__module__}:{cls.__qualname__} (your own)"
