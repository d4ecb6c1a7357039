"""The vocabulary both sides of Redis share: the broker and its keys, job signatures, the job
ledger, the outbox, the session-event stream, media bytes in transit."""
