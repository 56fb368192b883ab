"""The one plugin manager, and the backend registry built from it.

Plugins come from the ``neuronkit`` entry-point group; the built-in backends are registered
there too, exactly as a third-party distribution registers. Environment switches:

- ``NEURONKIT_LOAD_PLUGINS=a,b`` loads only those plugins (entry-point or distribution names);
  an empty value loads none.
- ``NEURONKIT_DISABLE_PLUGINS=a,b`` skips those.

A plugin that fails to import, or whose hook raises, is reported (a warning, and in
``neuronkit plugins``) and skipped; it never stops neuronkit.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass, replace
from typing import Any

import pluggy

from . import hookspecs
from .engines import HOST_ENGINES
from .errors import BackendNotFound, BackendUnavailable, PluginError
from .types import BackendSpec, ExportFormat, normalise_name

ENTRY_POINT_GROUP = "neuronkit"


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    error: str = ""  # why it was skipped; empty when loaded


_pm: pluggy.PluginManager | None = None
_infos: dict = {}
_cache: dict = {}  # what the hooks registered ("backends", "export_formats"), until plugins change


def get_plugin_manager() -> pluggy.PluginManager:
    """The plugin manager, created and loaded on first use."""
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager("neuronkit")
        pm.add_hookspecs(hookspecs)
        _load_entry_points(pm)
        _pm = pm
    return _pm


def reset() -> None:
    """Forget loaded plugins so the next use loads them again (after installing one, in tests)."""
    global _pm
    _pm = None
    _cache.clear()
    _infos.clear()
    _unmatched.clear()
    importlib.invalidate_caches()


def register(plugin: Any, name: str) -> None:
    """Register a plugin object in this process (tests, notebooks); undo with :func:`unregister`."""
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    try:
        _check_hook_names(pm, plugin)
    except PluginError as exc:
        pm.unregister(name=name)
        raise PluginError(f"plugin {name!r}: {exc}") from None
    _infos[name] = PluginInfo(name, distribution="(registered in process)")
    _cache.clear()


def unregister(name: str) -> None:
    get_plugin_manager().unregister(name=name)
    _infos.pop(name, None)
    _cache.clear()


def _switch(var: str) -> set | None:
    value = os.environ.get(var)
    return None if value is None else {normalise_name(v) for v in value.split(",") if v.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    from importlib.metadata import entry_points

    only, disabled = _switch("NEURONKIT_LOAD_PLUGINS"), _switch("NEURONKIT_DISABLE_PLUGINS") or set()
    eps = entry_points()
    eps = eps.select(group=ENTRY_POINT_GROUP) if hasattr(eps, "select") else eps.get(ENTRY_POINT_GROUP, [])
    seen: set = set()
    for ep in eps:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(ep.name, dist.metadata["Name"] if dist else "", dist.version if dist else "")
        names = {normalise_name(ep.name), normalise_name(info.distribution)}
        seen |= names
        if (only is not None and not names & only) or names & disabled:
            continue
        if pm.has_plugin(ep.name):
            other = _infos[ep.name].distribution or "another plugin"
            _skip(info, f"the name {ep.name!r} is already taken by {other}; uninstall one of the two")
            continue
        # A broken plugin must never stop neuronkit. SystemExit too (a plugin calling sys.exit at
        # import); KeyboardInterrupt is left alone, since it is far more often the user's Ctrl-C.
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            _check_hook_names(pm, plugin)
        except (Exception, SystemExit) as exc:
            if pm.has_plugin(ep.name):  # pluggy keeps a plugin whose registration failed midway
                pm.unregister(name=ep.name)
            _skip(info, f"{type(exc).__name__}: {exc}")
            continue
        _infos[ep.name] = info
    _unmatched[:] = sorted((only or set()) - seen)


_unmatched: list = []   # NEURONKIT_LOAD_PLUGINS names that matched no installed plugin


def _check_hook_names(pm: pluggy.PluginManager, plugin: Any) -> None:
    """Refuse a plugin implementing a hook neuronkit does not define (a misspelt ``neuronkit_backendz``):
    it would otherwise make pluggy's check fail for every plugin."""
    unknown = sorted(hook.name for hook in pm.get_hookcallers(plugin) or () if not hook.has_spec()
                     and any(impl.plugin is plugin and not impl.optionalhook for impl in hook.get_hookimpls()))
    if unknown:
        known = sorted(n for n in dir(hookspecs) if n.startswith("neuronkit_"))
        raise PluginError(f"it implements {', '.join(unknown)}, which neuronkit does not define (a misspelt hook?); "
                          f"the hooks are: {', '.join(known)}")


def register_commands(cli: Any) -> None:
    """Let every plugin add its subcommands; one that raises is reported and skipped.

    Command names are checked as backend names are: a plugin command whose name is taken (by
    neuronkit or an earlier plugin) is not installed, and the clash is reported naming both.
    """
    owners = dict.fromkeys(cli.commands, "neuronkit")
    for impl in get_plugin_manager().hook.neuronkit_register_commands.get_hookimpls():  # in registration order
        info = _infos.get(impl.plugin_name, PluginInfo(impl.plugin_name))
        before = dict(cli.commands)
        try:
            impl.function(*[{"cli": cli}[arg] for arg in impl.argnames])
        except (Exception, SystemExit) as exc:
            cli.commands.clear()
            cli.commands.update(before)
            _skip(info, f"its neuronkit_register_commands hook raised {type(exc).__name__}: {exc}")
            continue
        clashes = sorted(name for name, command in before.items() if cli.commands.get(name) is not command)
        for name in clashes:
            cli.commands[name] = before[name]
            _warn(info, f"its command {name!r} clashes with the one from {owners[name]}, which is kept; "
                        f"uninstall one of the two to choose")
        for name in cli.commands.keys() - before.keys():
            owners[name] = info.distribution or impl.plugin_name


def _skip(info: PluginInfo, why: str) -> None:
    info.error = why
    _infos.setdefault(f"{info.name} ({info.distribution})" if info.name in _infos else info.name, info)
    warnings.warn(f"neuronkit plugin {info.name!r} from {info.distribution or 'unknown'} was skipped: {why}. "
                  f"To silence this, set NEURONKIT_DISABLE_PLUGINS={info.name} or uninstall it.",
                  RuntimeWarning, stacklevel=3)


def _warn(info: PluginInfo, why: str) -> None:
    warnings.warn(f"neuronkit plugin {info.name!r} from {info.distribution or 'unknown'}: {why}.",
                  RuntimeWarning, stacklevel=3)


def plugins() -> list:
    """Every plugin neuronkit saw, with the hooks it implements (``neuronkit plugins``)."""
    pm = get_plugin_manager()
    rows = []
    for _key, info in sorted(_infos.items()):
        plugin = pm.get_plugin(info.name) if not info.error else None
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin)) if plugin is not None else []
        rows.append({"name": info.name, "distribution": info.distribution, "version": info.version,
                     "hooks": hooks, "error": info.error})
    return rows


def get_backends() -> dict:
    """All registered backends by name (``BackendSpec.plugin`` says which plugin gave each)."""
    if "backends" in _cache:
        return _cache["backends"]
    found: dict = {}
    owners: dict = {}  # name or alias -> (backend, plugin)
    for info, specs in _registered("neuronkit_backends", BackendSpec, last_first=True):
        for spec in specs:
            spec = _with_plugin(spec, info.distribution or info.name)
            for key in (spec.name, *spec.aliases):
                if key in owners:
                    other_name, other_plugin = owners[key]
                    raise PluginError(
                        f"two plugins claim the backend name {key!r}: {other_plugin} (backend {other_name!r}) and "
                        f"{spec.plugin} (backend {spec.name!r}); uninstall one, or disable it with "
                        f"NEURONKIT_DISABLE_PLUGINS"
                    )
                owners[key] = (spec.name, spec.plugin)
            found[spec.name] = spec
    _cache["backends"] = found
    return found


def get_export_formats() -> dict:
    """Every registered export format by name; a name two plugins register keeps the first, with a warning."""
    if "export_formats" in _cache:
        return _cache["export_formats"]
    found: dict = {}
    for info, formats in _registered("neuronkit_export_formats", ExportFormat):
        for fmt in formats:
            fmt = replace(fmt, plugin=info.distribution or info.name)
            if fmt.name in found:
                _warn(info, f"its export format --{fmt.name} clashes with the one from {found[fmt.name].plugin}, "
                            f"which is kept; uninstall one of the two to choose")
                continue
            found[fmt.name] = fmt
    _cache["export_formats"] = found
    return found


def _registered(hook: str, kind: type, last_first: bool = False):
    """``(PluginInfo, [records])`` for each plugin implementing a registration hook, in
    registration order (or the reverse); a hook that raises or returns something other than ``kind``
    objects is reported and its plugin skipped."""
    impls = getattr(get_plugin_manager().hook, hook).get_hookimpls()
    for impl in reversed(impls) if last_first else impls:
        info = _infos.get(impl.plugin_name, PluginInfo(impl.plugin_name))
        try:
            records = list(impl.function() or ())
        except (Exception, SystemExit) as exc:
            _skip(info, f"its {hook} hook raised {type(exc).__name__}: {exc}")
            continue
        wrong = [r for r in records if not isinstance(r, kind)]
        if wrong:
            _skip(info, f"its {hook} hook returned {repr(wrong[0])[:80]}, not neuronkit.{kind.__name__} objects; "
                        f"report this to the plugin's authors")
            continue
        yield info, records


def _with_plugin(spec: BackendSpec, plugin: str) -> BackendSpec:
    return replace(spec, plugin=plugin).with_engines(HOST_ENGINES)


def find_backend(name: str) -> BackendSpec:
    """The backend called ``name`` (or an alias of it)."""
    key = normalise_name(name)
    backends = get_backends()
    for spec in backends.values():
        if key == spec.name or key in spec.aliases:
            return spec
    raise BackendNotFound(
        f"no backend called {name!r}. Installed backends: {_describe(backends)}. "
        f"The built-in ones install with pip install \"neuronkit[torch]\" (or [tf], [mxnet], [onnx]); "
        f"third-party backends are packages that register the 'neuronkit' entry point."
    )


def claim_backend(model: Any) -> BackendSpec:
    """The backend whose plugin claims ``model`` (used when no framework is given)."""
    name = get_plugin_manager().hook.neuronkit_claim_model(model=model)
    if name is None and isinstance(model, (str, os.PathLike)):
        kinds = "; ".join(f"{s.name}: {s.model_files}" for s in get_backends().values() if s.model_files)
        raise BackendNotFound(
            f"no backend recognises the file type of {os.fspath(model)}. The installed backends compile "
            f"{kinds or 'no model files'}. If it is one of these, name the backend (neuronkit compile -f NAME, "
            f"or framework=NAME); installed backends: {_describe(get_backends())}"
        )
    if name is None:
        raise BackendNotFound(
            f"no backend recognises a {type(model).__module__}.{type(model).__qualname__}; pass framework= "
            f"with one of: {_describe(get_backends())}"
        )
    return find_backend(name)


def missing_requirements(spec: BackendSpec) -> list:
    """Modules the backend (or an engine) needs that cannot be imported here (checked without importing them)."""
    return missing_modules(spec.requires)


def missing_modules(modules) -> list:
    missing = []
    for module in modules:
        if module in sys.modules:
            continue
        try:
            if importlib.util.find_spec(module) is None:
                missing.append(module)
        except (ImportError, ValueError):
            missing.append(module)
    return missing


def ensure_available(spec: BackendSpec) -> None:
    missing = missing_requirements(spec)
    if missing:
        raise BackendUnavailable(
            f"the {spec.name} backend needs {', '.join(missing)}, which is not installed here. "
            f"Install it: {spec.install_hint or 'pip install ' + ' '.join(missing)}"
        )


def load_object(path: str) -> Any:
    """Import ``"module:attribute"``: backends name their classes this way so nothing loads early."""
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot import {path!r} ({exc}); the plugin that registered it is broken") from exc


def _describe(backends: dict) -> str:
    names = ", ".join(sorted(backends)) or "none"
    if _unmatched:  # a typo in the switch is the likeliest reason a backend is missing
        names += (f" (NEURONKIT_LOAD_PLUGINS={os.environ.get('NEURONKIT_LOAD_PLUGINS', '')!r} names "
                  f"{', '.join(repr(n) for n in _unmatched)}, which no installed plugin is called: fix or unset it)")
    return names
