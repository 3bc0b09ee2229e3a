"""The pipeline's settings: one object, made once per build, passed to everything that needs it.

This is the only module that reads the environment. The MkDocs plugin builds its settings from
its options in ``mkdocs.yml`` (each overridable by the variable below through ``!ENV``);
``make regen``, ``make check`` and the tests build theirs from the same variables with
[`Settings.from_environment`][snippets.pipeline.settings.Settings.from_environment].

| Option (``mkdocs.yml``) | Variable | Default | What it does |
|---|---|---|---|
| ``execute`` | ``SNIPPETS_EXECUTE`` | ``true`` | ``0``/``false``: build from the records alone, running nothing |
| ``workers`` | ``SNIPPETS_WORKERS`` | ``0`` (one per core, at most 2) | processes that run examples |
| ``time_limit`` | ``SNIPPETS_TIME_LIMIT`` | ``120`` | seconds before a hanging example is stopped, its line named |
| ``cache_dir`` | ``SNIPPETS_CACHE`` | ``.cache/examples`` | where results are cached |
| ``records_dir`` | ``SNIPPETS_RECORDS`` | ``snippets/records`` | another copy of the records (the tests use it) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .examples import PROJECT_DIR, SNIPPETS_DIR

# option -> environment variable; mkdocs.yml names the same variables in its `!ENV` tags.
VARIABLES = {"execute": "SNIPPETS_EXECUTE", "workers": "SNIPPETS_WORKERS", "time_limit": "SNIPPETS_TIME_LIMIT",
             "cache_dir": "SNIPPETS_CACHE", "records_dir": "SNIPPETS_RECORDS"}
# Settings that choose which CPU code computes a result: ATen's kernel set, and the
# instruction sets MKL and oneDNN allow themselves. Part of every cache key.
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA",
                    "DNNL_MAX_CPU_ISA")
# Where matplotlib, imported by the workers, looks for a matplotlibrc (it changes every figure).
MATPLOTLIB_VARIABLES = ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "MATPLOTLIBRC")


@dataclass(frozen=True)
class Settings:
    """What a build, ``make regen`` or a test runs with. Relative folders are the project's.

    Examples:
        >>> Settings().workers_for(3), Settings(workers=2).workers_for(None)
        (3, 2)
        >>> Settings(cache_dir="elsewhere").cache_dir == PROJECT_DIR / "elsewhere"
        True
    """

    execute: bool = True
    workers: int = 0  # 0: one per core, at most two
    time_limit: float = 120
    cache_dir: Path = PROJECT_DIR / ".cache" / "examples"
    records_dir: Path = SNIPPETS_DIR / "records"
    # The kernel and matplotlib variables as they were when the settings were made.
    machine: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for name in ("cache_dir", "records_dir"):
            object.__setattr__(self, name, PROJECT_DIR / Path(getattr(self, name)))

    @classmethod
    def from_environment(cls, environ=None, **options) -> Settings:
        """The settings the ``SNIPPETS_*`` variables ask for; ``options`` (not ``None``) win.

        Examples:
            >>> settings = Settings.from_environment({"SNIPPETS_EXECUTE": "0", "SNIPPETS_WORKERS": "3"})
            >>> settings.execute, settings.workers, settings.time_limit
            (False, 3, 120.0)
            >>> Settings.from_environment({"SNIPPETS_WORKERS": "3"}, workers=1).workers
            1
        """
        environ = os.environ if environ is None else environ
        found = {option: environ[name] for option, name in VARIABLES.items() if environ.get(name)}
        found.update({option: value for option, value in options.items() if value is not None})
        return cls.make(**found, machine=machine_variables(environ))

    @classmethod
    def make(cls, execute=True, workers=0, time_limit=120, cache_dir=None, records_dir=None,
             machine=None) -> Settings:
        """Settings from options as text or YAML gives them (``"0"``, ``"false"``, ``0`` for execute off).

        Examples:
            >>> Settings.make(execute="false", workers="2", time_limit="1.5").time_limit
            1.5
        """
        return cls(execute=str(execute).strip().lower() not in ("0", "false", "no", "off"),
                   workers=int(workers or 0), time_limit=float(time_limit),
                   cache_dir=Path(cache_dir or cls.cache_dir), records_dir=Path(records_dir or cls.records_dir),
                   machine=machine_variables() if machine is None else machine)

    def but(self, **changes) -> Settings:
        """A copy with some settings changed.

        Examples:
            >>> Settings().but(execute=False).execute
            False
        """
        return replace(self, **changes)

    def workers_for(self, asked: int | None = None) -> int:
        """Processes to run examples on: as asked, else the setting, else one per core, at most
        two. Workers are forked from a server that imported torch once, so a second costs little
        CPU, and MkDocs, which mostly waits for the examples, shares their cores: on 2 cores a cold
        build took 18.6 s instead of 24.4 s here, with 25.6 s of CPU instead of 27.1 s, and a peak
        of 663 MiB instead of 533 MiB, as two large examples then run at once. A third has nothing
        left to win, as MkDocs' rendering of the pages takes as long as the examples do on two."""
        return asked or self.workers or max(1, min(2, os.cpu_count() or 1))


def machine_variables(environ=None) -> dict[str, str]:
    """The variables (set and not empty) that change what an example computes or draws.

    Examples:
        >>> machine_variables({"ATEN_CPU_CAPABILITY": "default", "HOME": "/root"})
        {'ATEN_CPU_CAPABILITY': 'default'}
    """
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in KERNEL_VARIABLES + MATPLOTLIB_VARIABLES if environ.get(name)}


def environment_with(**extra: str) -> dict[str, str]:
    """This process's environment with some variables added, for a program the pipeline starts.

    Examples:
        >>> environment_with(NODE_PATH="/x")["NODE_PATH"]
        '/x'
    """
    return {**os.environ, **extra}
