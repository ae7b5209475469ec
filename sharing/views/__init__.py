"""The portal pages of sharing: public share pages, the team's links and groups, and the
file page's permissions and links panels."""
