"""What a worker does with a queued message: actors, sending, routing, pacing, folding session
events, e-mail fallback, webhook delivery and maintenance (queue -> worker -> RPC)."""
