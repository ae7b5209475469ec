"""Writes for accounts: users and tokens, tenants and members, the audit trail."""
