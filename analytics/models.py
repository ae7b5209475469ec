"""Analytics has no tables of its own yet: it reads the audit trail (accounts.ActivityEvent)."""
