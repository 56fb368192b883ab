"""The hooks a neuronkit plugin can implement. Every hook name starts with ``neuronkit_``.

A plugin is a module (or object) with functions decorated by :data:`neuronkit.hookimpl`,
registered through the ``neuronkit`` entry-point group. docs/plugin-hooks.md documents each hook;
a test checks that the two agree.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("neuronkit")
hookimpl = pluggy.HookimplMarker("neuronkit")


@hookspec
def neuronkit_backends() -> list:
    """Register backends.

    :return: a list of :class:`neuronkit.BackendSpec`, one per backend the plugin provides.
        Return specs only: import nothing heavy here, it runs on every ``import neuronkit`` use.
    """


@hookspec(firstresult=True)
def neuronkit_claim_model(model: Any) -> str | None:
    """Say which backend should compile ``model`` when the user passes no ``framework``.

    Called for each plugin until one answers. Decide cheaply, without importing a framework the
    user has not imported already (look in ``sys.modules``).

    :param model: the object given to :func:`neuronkit.compile`.
    :return: the name of one of the plugin's backends, or ``None`` to pass.
    """


@hookspec
def neuronkit_register_commands(cli: Any) -> None:
    """Add subcommands to the ``neuronkit`` command.

    :param cli: the :class:`click.Group` behind the ``neuronkit`` command; call ``cli.command()``.
    """


@hookspec
def neuronkit_export_formats() -> list:
    """Register layouts that ``neuronkit export ART --NAME DEST`` writes (``--tf-serving``, say).

    :return: a list of :class:`neuronkit.ExportFormat`. Names are checked across plugins as
        backend names are.
    """
