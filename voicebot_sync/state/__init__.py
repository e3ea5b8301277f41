"""What the tool keeps between runs under the state folder: journal, locks, the request ledger."""
