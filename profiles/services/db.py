"""The service layer's own database connection (settings.DATABASES "autocommit"): never inside a
caller's transaction, so what it writes (audit rows, the rate limit, local copies, claims) stands
whatever the caller's transaction does."""

AUTOCOMMIT_DB = "autocommit"
