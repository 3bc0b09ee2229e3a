"""The machinery that runs the examples, records their outputs and checks them.

- :mod:`.examples` finds examples by reading the page modules (no import).
- :mod:`.execute` runs them in isolated worker processes and captures output.
- :mod:`.cache` skips examples whose dependencies did not change.
- :mod:`.records` holds the committed records and compares new output with them.
- :mod:`.build` ties these together for the MkDocs hook, the tests and ``make regen``.
- :mod:`.render` puts outputs, figures and math into the pages.
"""
