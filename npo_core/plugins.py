"""The one way plugins are found: entry points in group `npo`, built-ins included."""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .errors import StartupError

PROJECT = "npo"


def make_plugin_manager(*, load_entrypoints: bool = True, extra: tuple = ()) -> pluggy.PluginManager:
    """Build a manager, load every `npo` entry point, then check hook names.

    `NPO_LOAD_PLUGINS=a,b` limits loading to the named entry points (an operator's
    allow-list). `extra` registers plugin objects directly (tests, one-off plugins).
    A misspelt hook implementation stops start-up.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        _refuse_name_clashes()
        allow = os.environ.get("NPO_LOAD_PLUGINS")
        if allow is not None:
            wanted = {n.strip() for n in allow.split(",") if n.strip()}
            for ep in importlib.metadata.entry_points(group=PROJECT):
                if ep.name not in wanted:
                    pm.set_blocked(ep.name)
        try:
            pm.load_setuptools_entrypoints(PROJECT)
        except Exception as e:  # an entry point that cannot even be imported
            raise StartupError(f"A plugin failed to load: {type(e).__name__}: {e}") from e
    for plugin in extra:
        pm.register(plugin, name=getattr(plugin, "__name__", None))
    if os.environ.get("NPO_TRACE_PLUGINS"):
        pm.trace.root.setwriter(print)
        pm.enable_tracing()
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise StartupError(f"Plugin {e.plugin!r} implements a hook npo does not have: {e}") from e
    return pm


def _refuse_name_clashes() -> None:
    """pluggy silently skips a second entry point with a taken name: say so instead."""
    owners: dict[str, set[str]] = {}
    for ep in importlib.metadata.entry_points(group=PROJECT):
        owners.setdefault(ep.name, set()).add(ep.dist.name if ep.dist else "?")
    clashes = {name: dists for name, dists in owners.items() if len(dists) > 1}
    if clashes:
        name, dists = sorted(clashes.items())[0]
        raise StartupError(f"Two installed distributions name a plugin {name!r}: {', '.join(sorted(dists))}.")


@dataclass
class Registrations:
    """Everything plugins registered, keyed by id, with the plugin that registered it."""

    contracts: dict = field(default_factory=dict)
    views: dict = field(default_factory=dict)
    auth_methods: dict = field(default_factory=dict)
    by_plugin: dict = field(default_factory=dict)


def collect(pm: pluggy.PluginManager) -> Registrations:
    """Call every collection hook plugin by plugin, so each item is stamped with its plugin."""
    reg = Registrations()
    kinds = (
        ("register_contracts", reg.contracts, lambda c: c.id, "contract"),
        ("register_views", reg.views, lambda v: v.slug, "view"),
        ("register_auth_methods", reg.auth_methods, lambda m: m.name, "auth method"),
    )
    for hook, target, key_of, label in kinds:
        for impl in getattr(pm.hook, hook).get_hookimpls():

            def register(item, _target=target, _key=key_of, _label=label, _name=impl.plugin_name):
                key = _key(item)
                if key in _target:
                    other = getattr(_target[key], "plugin", "?")
                    raise StartupError(
                        f"Two plugins register the same {_label} {key!r}: {other!r} and {_name!r}.")
                try:
                    item.plugin = _name
                except (AttributeError, TypeError):  # frozen dataclasses cannot be stamped
                    pass
                _target[key] = item
                reg.by_plugin.setdefault(_name, {}).setdefault(_label + "s", []).append(key)

            # Only the arguments the implementation asks for (pluggy's opt-in arguments).
            impl.function(*[{"register": register}[a] for a in impl.argnames])
    return reg


def describe(pm: pluggy.PluginManager, reg: Registrations) -> list[dict]:
    """Name, version, hooks and registrations of every plugin: `npo plugins`."""
    dists = {id(p): d for p, d in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in sorted(pm.list_name_plugin()):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        out.append({
            "name": name,
            "version": dist.version if dist else None,
            "distribution": dist.metadata["Name"] if dist else None,
            "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
            "registered": reg.by_plugin.get(name, {}),
        })
    return out
