"""Rules shared by every process, none of which takes a request: phone numbers, errors, quiet
hours, addresses, media types, back-off, the sealing of credentials. Nothing here talks to a
network when imported; quiet hours read their window from the settings."""
