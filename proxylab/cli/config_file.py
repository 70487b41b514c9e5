"""``--config FILE`` for ``proxylab forward`` and ``proxylab reverse``: the file, then the flags.

What: ``add_config_flag`` adds the option and shows the complete example file in
``--help``; ``apply_forward_config`` / ``apply_reverse_config`` read the file (see
``proxylab.export.config``) and fill in every flag that was not given on the command
line, so a flag given there overrides the file. Filter rules, routes and pools that flags
cannot spell are handed back as the loaded configuration.

Rule of thumb for students: "the file is the default; the command line is the exception".

How "not given" is known: the flags a file can set get ``None`` as their parser default
(``parser.set_defaults``), their real defaults are kept aside, and ``apply_*`` (the first
thing ``run`` does) puts back, for every flag still ``None``, the file's value or the real
default. So ``--balancer round-robin`` beats a file that says weighted, although
round-robin is also the default.

Layer 5 (an edge).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from proxylab.errors import ConfigError
from proxylab.export.config import load_config
from proxylab.export.model import ForwardConfig, ReverseConfig
from proxylab.forward.proxy import ForwardSettings
from proxylab.reverse.balancers import Backend
from proxylab.reverse.routes import ReverseSettings, Route

__all__ = [
    "add_config_flag",
    "apply_forward_config",
    "apply_reverse_config",
    "forward_with_config",
    "reverse_with_config",
]


#: the flags a configuration file can set, per command (argparse ``dest`` names)
FILE_FLAGS = {
    "forward": ("listen", "privacy", "scrub", "connect_port", "allow_client", "cache_size",
                "max_object_size", "resolve"),
    "reverse": ("listen", "balancer", "health_check", "sticky", "tls_self_signed", "cert", "key",
                "redirect_http", "hsts"),
}  # fmt: skip


def add_config_flag(parser: argparse.ArgumentParser, command: str, example: str) -> None:
    """``--config FILE``, with ``example`` (a complete file) at the end of ``--help``.

    Call it after the other flags: it swaps their defaults for ``None`` (see the notes).
    """
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read the settings from this TOML file; flags given here override it",
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "A complete configuration file (--config FILE):\n\n" + example
    defaults = {dest: parser.get_default(dest) for dest in FILE_FLAGS[command]}
    parser.set_defaults(**dict.fromkeys(defaults), flag_defaults=defaults)


def _load(args: argparse.Namespace, kind: type[Any], command: str) -> Any:
    config = load_config(args.config)
    if not isinstance(config, kind):
        other = "reverse" if command == "forward" else "forward"
        raise ConfigError(
            f"{args.config} describes a {other} proxy; run it with `proxylab {other} --config`."
        )
    return config


def _fill(args: argparse.Namespace, values: dict[str, Any]) -> None:
    """Every flag not given (still ``None``) gets the file's value, else its real default."""
    for dest, default in getattr(args, "flag_defaults", {}).items():
        if getattr(args, dest) is None:
            setattr(args, dest, values.get(dest, default))


def apply_forward_config(args: argparse.Namespace) -> ForwardConfig | None:
    """The file's values (with ``--config``) or the defaults on the flags not given."""
    if not getattr(args, "config", None):
        _fill(args, {})
        return None
    config: ForwardConfig = _load(args, ForwardConfig, "forward")
    if args.connect_port is None:  # the file's list is the whole set, 443 only if listed
        args.no_default_connect_ports = True
    _fill(args, {
        "listen": config.listen, "privacy": config.privacy, "scrub": list(config.scrub),
        "connect_port": list(config.connect_ports), "allow_client": list(config.allow_clients),
        "cache_size": config.cache_size, "max_object_size": config.max_object_size,
        "resolve": [f"{name}={host}:{port}" for name, (host, port) in config.resolve.items()],
    })  # fmt: skip
    if config.rules and not (args.block or args.allow):
        args.rules_note = f"{len(config.rules)} rules from {config.source} (first match wins)"
    return config


def forward_with_config(config: ForwardConfig | None, args: argparse.Namespace,
                        settings: ForwardSettings) -> ForwardSettings:  # fmt: skip
    """The file's filter, unless ``--block``/``--allow`` were given."""
    if config is None or args.block or args.allow:
        return settings
    return dataclasses.replace(settings, filters=config.filters())


def apply_reverse_config(args: argparse.Namespace) -> ReverseConfig | None:
    """The file's values (with ``--config``) or the defaults on the flags not given."""
    if not getattr(args, "config", None):
        _fill(args, {})
        return None
    config: ReverseConfig = _load(args, ReverseConfig, "reverse")
    tls = config.tls
    values: dict[str, Any] = {
        "listen": config.listen, "balancer": config.pools[0].balancer,
        "health_check": config.health.path, "sticky": config.sticky,
    }  # fmt: skip
    if tls is not None:
        values |= {"tls_self_signed": tls.self_signed, "cert": tls.cert, "key": tls.key,
                   "redirect_http": tls.redirect_http,
                   "hsts": tls.hsts_max_age is not None}  # fmt: skip
    _fill(args, values)
    return config


def reverse_with_config(
    config: ReverseConfig | None,
    args: argparse.Namespace,
    pools: tuple[list[Route], list[Backend]],
    settings: ReverseSettings,
) -> tuple[list[Route], list[Backend], ReverseSettings]:
    """The file's routes (unless ``--backend``/``--route`` were given) and health knobs."""
    routes, backends = pools
    if config is None:
        return routes, backends, settings
    if not (routes or backends):
        file_pools = config.pools
        if args.balancer != file_pools[0].balancer:  # --balancer was given: it wins everywhere
            file_pools = tuple(dataclasses.replace(p, balancer=args.balancer) for p in file_pools)
        routes = [pool.route() for pool in file_pools]
    file_settings = config.settings()
    settings = dataclasses.replace(
        settings,
        check_interval=file_settings.check_interval, rise=file_settings.rise,
        fall=file_settings.fall, max_fails=file_settings.max_fails,
        fail_timeout=file_settings.fail_timeout, hide_headers=file_settings.hide_headers,
        forwarded_header=file_settings.forwarded_header,
        hsts=file_settings.hsts if settings.hsts and file_settings.hsts else settings.hsts,
    )  # fmt: skip
    return routes, backends, settings
