"""The machinery that runs the examples, records their outputs and checks them.

- [`examples`][snippets.pipeline.examples] finds examples by reading the page modules (no import).
- [`execute`][snippets.pipeline.execute] runs them in isolated worker processes and captures output.
- [`cache`][snippets.pipeline.cache] skips examples whose dependencies did not change.
- [`results`][snippets.pipeline.results] types what a run produced (`Result`) and what is committed of it (`Record`).
- [`records`][snippets.pipeline.records] holds the committed records and compares new output with them.
- [`build`][snippets.pipeline.build] ties these together for the MkDocs plugin, the tests and ``make regen``.
- [`render`][snippets.pipeline.render] puts outputs, figures and math into the pages.
- [`plugin`][snippets.pipeline.plugin] is the MkDocs plugin (``examples`` in mkdocs.yml) that runs it all in a build.
- [`settings`][snippets.pipeline.settings] holds its options, the only place that reads the environment.
- [`grammar`][snippets.pipeline.grammar] is the syntax of include lines, section markers, fences and numbers.
"""
