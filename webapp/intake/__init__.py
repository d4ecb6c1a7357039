"""What the web side does with a request: the service that checks it, writes its rows and
queues their work (API -> service -> row -> queue)."""
