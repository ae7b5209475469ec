"""What the analytics endpoints and the dashboard read: the audit trail, and the roll-ups
(StorageSnapshot, UsageHour, ActiveUserDay) rather than files or events, so each answer is
a constant number of small queries whatever the tenant holds. Owners and admins only.
Shapes are DESIGN 5.1's, plus `as_of` (when the storage figures were measured).
"""

from analytics.selectors.alerts import ALERT_STATES, alert_banners, alert_list
from analytics.selectors.storage import categories, file_types, storage_history, storage_summary
from analytics.selectors.usage import activity_list, usage_series

__all__ = [
    "ALERT_STATES",
    "activity_list",
    "alert_banners",
    "alert_list",
    "categories",
    "file_types",
    "storage_history",
    "storage_summary",
    "usage_series",
]
