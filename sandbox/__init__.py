"""Faithful stand-ins for the external services Canvas Flow talks to.

Each sub-package is a real HTTP server on 127.0.0.1, built only on the standard
library, and shares no code with ``app/`` (it must not inherit our client's
assumptions). ``sandbox.canvas`` reproduces the Canvas LMS REST API.
"""
