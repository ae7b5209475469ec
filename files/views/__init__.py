"""The portal's pages of files: browsing (browse.py), actions on files and folders
(actions.py), bulk actions (bulk.py) and the file page (file.py)."""
