"""A small OpenID Connect provider (django-oauth-toolkit) that SSO tests run as a process of its own.

`process.oidc_provider()` starts it; it is a second Django site with its own settings and
SQLite database, never imported by the test process itself.
"""
