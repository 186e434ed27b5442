"""The Fluvius-compatible face: ``/v3/api/...`` answers like Fluvius's ESP API v3.

Paths (the spec's, under the ``/v3`` base): ``POST /v3/api/shortUrlIdentifier``,
``GET /v3/api/mandate``, ``GET /v3/api/mandate/energy`` and, in sandbox mode only,
``POST /v3/api/mandate/mock``. Paths and query names match case-insensitively (``casing``);
errors are the spec's ``ErrorResponse`` / ``ErrorValidationResponse`` bodies, and malformed
requests answer 400, never 422 (``errors``); bodies are the ``schemas`` models.

The spec is ``swagger.json`` / ``swagger_sandbox.json`` in the sdist of the PyPI package
``fluvius-energy-api`` 0.2.2. It is not in this repository: the tests download it
(``tests/support/fluvius_spec.py``) and validate against a normalised copy, because taken literally
its ``allOf`` + ``additionalProperties: false`` components and untagged ``oneOf`` headpoints
reject every real body: parents are merged into children, and ``oneOf`` options are told
apart by their ``$type`` (``metering-on-meter``, ``submetering-offtake``, ...).
"""
