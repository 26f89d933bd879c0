"""The fault suite: every loop here is bounded in count and in time (pytest-timeout per test)."""
