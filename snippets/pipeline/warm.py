"""Imported once, by the server process the workers are forked from (`multiprocessing`'s
forkserver, see [`Workers.start`][snippets.pipeline.execute.Workers.start]): torch and
matplotlib imported and warmed up there are every worker's without paying for them again."""

from .execute import prepare

prepare()
