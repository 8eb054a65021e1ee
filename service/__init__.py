"""The note2fhir HTTP service: a Flask app factory run by gunicorn (``deploy/gunicorn.conf.py``).

``service.app:create_app()`` builds the app; ``note2fhir serve`` starts gunicorn with it.
Areas are blueprints: ``api`` ($process and batch), ``metadata`` (CapabilityStatement),
``health`` (liveness, readiness), ``metrics`` (Prometheus) and, from the write-back side,
subscriptions and the queue admin.
"""
