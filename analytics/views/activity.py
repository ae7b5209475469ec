"""The file page's activity panel, loaded by htmx (files may not import analytics)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.portal import tenant_page
from analytics.selectors import activity_list
from files.permissions import can_read_file_activity
from files.selectors import file_get_for_actor

SHOWN = 20
# What each event says about the file, after the name of who did it.
VERBS = {
    "file.uploaded": "uploaded it",
    "file.version_uploaded": "uploaded a new version",
    "file.version_restored": "restored an earlier version",
    "file.updated": "changed it",
    "file.downloaded": "downloaded it",
    "file.reprocessed": "asked for it to be processed again",
    "file.trashed": "moved it to the trash",
    "file.restored": "restored it from the trash",
    "permission.granted": "granted rights on it",
    "permission.revoked": "removed a grant on it",
    "share.downloaded": "downloaded it through a share link",
    "file.archived": "moved its bytes to the archive",
    "file.retrieved": "brought its bytes back from the archive",
    "file.retrieval_requested": "asked for it to be retrieved from the archive",
    "integrity_repaired": "repaired a damaged stored copy of it",
    "integrity_lost": "found no intact stored copy of it left",
}
# Events of the product's own sweeps and tasks: nobody's, and not a visitor's either.
SYSTEM_VERBS = {"file.archived", "file.retrieved", "integrity_repaired", "integrity_lost"}


def _says(event) -> str:
    said = VERBS.get(event.verb, event.verb)
    data = event.data if isinstance(event.data, dict) else {}
    if event.verb == "file.updated" and data.get("fields"):
        said = f"changed its {', '.join(map(str, data['fields']))}"
    elif event.verb == "file.version_restored" and data.get("from"):
        said = f"restored version {data['from']} as version {data.get('version', '?')}"
    elif event.verb == "file.version_uploaded" and data.get("version"):
        said = f"uploaded version {data['version']}"
    return said


@require_GET
@tenant_page
def file_activity_panel(request, membership, file_id):
    file = file_get_for_actor(membership=membership, file_id=file_id)
    if not can_read_file_activity(membership=membership, file=file):
        return HttpResponse(status=204)  # htmx leaves the page as it is
    events = [
        (event, _says(event)) for event in activity_list(membership=membership, file=file).order_by("-at")[:SHOWN]
    ]
    context = {"file": file, "events": events, "shown": SHOWN, "system_verbs": SYSTEM_VERBS}
    return render(request, "analytics/_file_activity.html", context)
