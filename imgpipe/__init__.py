"""imgpipe, the tool people run on their machines: the ``imgpipe`` CLI, offline models, the HTML
report, operations commands and the offline plan.

The Lambda function never imports this package (import-linter enforces it); it builds on
:mod:`rules` (the engine), :mod:`analyzer` (what the function runs) and, for ``imgpipe plan``,
:mod:`infra`.
"""

from analyzer import __version__

__all__ = ["__version__"]
