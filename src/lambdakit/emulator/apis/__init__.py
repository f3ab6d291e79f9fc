"""API Gateway REST and HTTP APIs served locally: route matching (``matching.py``), the events
API Gateway builds and the responses it maps (``events*.py``, ``responses*.py``)."""
