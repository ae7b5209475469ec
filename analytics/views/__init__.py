"""The portal's analytics pages: the file page's activity panel, team settings → Analytics
(the dashboard) and team settings → Webhooks."""
