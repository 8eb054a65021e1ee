"""gunicorn config for the note2fhir service: ``gunicorn -c deploy/gunicorn.conf.py``.

The settings live in the installed package (``service/gunicorn_conf.py``) so that
``note2fhir serve`` and containers run the same configuration.
"""

from service.gunicorn_conf import *  # noqa: F403
