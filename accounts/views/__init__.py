"""Portal pages of accounts: `account` (home, registration, password, API tokens) and
`team` (members and settings of one team). Login and logout are Django's own views."""
