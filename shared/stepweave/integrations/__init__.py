"""Integrations as data: one module of plain data per operation of a provider's API.

``stepweave/integrations/<provider>/__init__.py`` declares ``PROVIDER`` (base URL, auth,
where an error answer's message is); ``<provider>/<operation>.py`` declares ``OPERATION``
(params, the HTTP request, pagination, the output mapping, the Sim block / operation /
tool ids it stands for). The format is ``spec``; ``registry`` turns each operation into a
registry tool (``stepweave.tools``: a ``tool`` block, an agent tool, the Sim importer's
target), ``executor`` runs them all, ``catalogue`` writes docs/integrations.md.

Declarations are Python modules of plain data rather than YAML: they ship in the Lambda
layer as the rest of the package (no YAML parser there), load from cached bytecode, and an
operation is imported only when its tool is used.
"""
