"""imgpipe's infrastructure: Pulumi component resources, typed stack settings, Lambda artifacts.

Pulumi is imported only by the component modules (``infra.components``) and the program
(``__main__.py``); ``infra.settings``, ``infra.policies`` and ``infra.artifacts`` are pure.
"""
