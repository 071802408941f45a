"""The multi-party de-confliction service: API, auth, need-to-know, hotline, live events."""
