"""``ragc serve``: one local server with the gateway API (HTTP + OpenAPI,
WebSocket JSON-RPC, server-sent events), Prometheus metrics and the web
inspector (static files in ``static/``, served by the package; no CDN).

Modules: :mod:`~ragc.serve.app` (routes, auth), :mod:`~ragc.serve.runs`
(runs in the server and their event channels), :mod:`~ragc.serve.rpc`
(JSON-RPC methods), :mod:`~ragc.serve.messages` (message shapes),
:mod:`~ragc.serve.openapi`, :mod:`~ragc.serve.graphview` (graph layout),
:mod:`~ragc.serve.calls` (model requests of served runs). User docs:
``docs/serve.md``. Needs the ``serve`` extra (``pip install 'ragc[serve]'``).
"""
