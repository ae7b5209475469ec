"""Writes for sharing: share links and their public use, grants, groups."""
