"""The signature service over HTTP: a JSON API and a web page in one FastAPI process.

:func:`create_app` builds the application from a bundle, a store and a keys file; ``sigbench-service
serve`` runs it with uvicorn and ``sigbench-service keys`` manages the API keys. Needs the ``service``
extra (FastAPI, uvicorn, python-multipart, Jinja2, itsdangerous); the core (:mod:`sigbench.service`) never
imports this package.
"""

from sigbench.service.api.app import create_app

__all__ = ["create_app"]
