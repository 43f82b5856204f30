"""API users, tokens, login throttling and the audit log (issue 7).

Data access here knows nothing about HTTP; ``server.api`` maps its errors to status codes.
"""
