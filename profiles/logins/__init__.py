"""Signing in to the admin: the login form with its authentication code, the lockout page, the client's
address for the lockout, and the session rules (idle expiry, two-factor sessions).

The counting and locking is django-axes'; the codes are django-otp's (``services.twofactor``).
"""
