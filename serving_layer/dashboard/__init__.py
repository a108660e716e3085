"""``make dashboard``: a live web page of the serving views by layer and the pipeline's
health, with Prometheus ``/metrics``.

``reads`` (the warehouse, as the reader role), ``pool`` (the reads' sessions, with bounded
waits), ``monitor`` (``make status``'s gathering in the background), ``documents`` and
``metrics`` (pure), ``failures`` (status codes and one-line errors), ``app`` (the web
wiring), ``command`` (the sub-command), ``page/`` (the page's HTML, script and style).
"""
