"""Pure rules shared by every process: phone numbers, errors, quiet hours, addresses, the
sealing of credentials. Nothing here talks to a network when imported."""
