"""`manage.py restore_from_bucket [--replica] [--tenant ID] [--merge]`: rebuild tenants,
members, folders, files and versions from the bucket's own manifests, for the day the
database and its backups are gone (files.services.bucket_restore).

Run it on an empty, migrated database. Members get their accounts back without a password
and set one through "forgot password". Exits 1 when an object a manifest names is in no
bucket (the list is printed).
"""

from __future__ import annotations

import contextlib
import time
import uuid

from django.core.management.base import BaseCommand, CommandError

from accounts.models import DeletedTenant, Tenant
from files.services.bucket_restore import TenantRestored, bucket_tenant_ids, tenant_restore
from mediaportal.maintenance import MaintenanceUnavailable, maintenance_mode
from mediaportal.progress import Progress


class Command(BaseCommand):
    help = (
        "Rebuild the database's tenants, members (accounts without a password), groups, folders, files, "
        "versions, tags and metadata from each tenant's manifest in the bucket; copy objects missing from "
        "their bucket back from the replica; turn blobs no manifest names into 'Recovered' files; queue "
        "processing where renditions or extracted text are missing. Refuses a database that holds tenants "
        "unless --merge (which adds only the tenants it lacks)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--replica", action="store_true", help="Read the manifests from the replica region (the primary is lost)."
        )
        parser.add_argument("--tenant", action="append", metavar="ID", help="Only this tenant (an id); repeatable.")
        parser.add_argument("--merge", action="store_true", help="The database holds tenants: add only those it lacks.")
        parser.add_argument(
            "--no-reprocess", action="store_true", help="Do not queue processing for files that need it."
        )
        parser.add_argument(
            "--offline", action="store_true", help="The portal is stopped: no maintenance flag in Redis."
        )

    def handle(self, *args, **options) -> None:
        role = "replica" if options["replica"] else "primary"
        tenant_ids = self._tenants(role, options)
        self.stdout.write(f"Restoring {len(tenant_ids)} tenants from the {role} bucket.")
        flag = contextlib.nullcontext() if options["offline"] else maintenance_mode(reason="restore", settle=0)
        started = time.monotonic()
        results: list[TenantRestored] = []
        try:
            with flag:
                for tenant_id in tenant_ids:
                    results.append(self._one(tenant_id, role, options))
        except MaintenanceUnavailable as exc:
            raise CommandError(f"{exc}. Stop the portal and run again with --offline.") from None
        self._report(results, time.monotonic() - started)

    def _tenants(self, role: str, options: dict) -> list[str]:
        found = bucket_tenant_ids(role=role)
        if options["tenant"]:
            try:
                wanted = [str(uuid.UUID(value)) for value in options["tenant"]]
            except ValueError as exc:
                raise CommandError(f"--tenant takes a tenant id: {exc}") from None
            if unknown := sorted(set(wanted) - set(found)):
                raise CommandError(f"The {role} bucket holds nothing of tenants {', '.join(unknown)}.")
            found = wanted
        if not options["merge"] and Tenant.objects.exists():
            raise CommandError(
                "The database holds tenants already: restore_from_bucket fills an empty, migrated database. "
                "--merge adds the tenants it lacks and leaves the others as they are."
            )
        existing = {str(pk) for pk in Tenant.objects.filter(pk__in=found).values_list("pk", flat=True)}
        deleted = {str(pk) for pk in DeletedTenant.objects.filter(pk__in=found).values_list("pk", flat=True)}
        for tenant_id in sorted(existing):
            self.stdout.write(f"  {tenant_id}: in the database already; left as it is")
        for tenant_id in sorted(deleted - existing):
            self.stdout.write(f"  {tenant_id}: deleted here; left to the orphan sweep")
        return [tenant_id for tenant_id in found if tenant_id not in existing | deleted]

    def _one(self, tenant_id: str, role: str, options: dict) -> TenantRestored:
        shown: list[Progress] = []

        def phase(label: str, total: int):
            for progress in shown:
                progress.close()
            shown[:] = [Progress(total, label=f"  {label}", stream=self.stdout)]
            return lambda note: shown[0].advance(note)

        self.stdout.write(f"Tenant {tenant_id}:")
        result = tenant_restore(tenant_id=tenant_id, role=role, reprocess=not options["no_reprocess"], phases=phase)
        for progress in shown:
            progress.close()
        self.stdout.write(self._summary(result))
        return result

    @staticmethod
    def _summary(result: TenantRestored) -> str:
        if not result.from_manifest:
            return f"  no manifest: restored as {result.slug} with {result.recovered} recovered files"
        counts = ", ".join(f"{count} {what}" for what, count in result.counts.items())
        objects = ", ".join(f"{count} {outcome}" for outcome, count in sorted(result.objects.counts.items()))
        return (
            f"  {result.slug}: {counts}; objects: {objects or 'none'}; {result.recovered} recovered files; "
            f"{result.queued} queued for processing"
        )

    def _report(self, results: list[TenantRestored], elapsed: float) -> None:
        files = sum(result.counts.get("files", 0) for result in results)
        absent = 0
        for result in results:
            for outcome, key in result.objects.problems:
                self.stdout.write(f"  {outcome:8} {key}")
            for key in result.not_recovered:
                self.stdout.write(f"  not recovered {key}")
            absent += result.objects.absent + len(result.not_recovered)
        rate = files / elapsed if elapsed else 0
        self.stdout.write(f"{len(results)} tenants, {files} files in {elapsed:.1f} s ({rate:.0f} files/s).")
        if absent:
            raise CommandError(f"{absent} objects the manifests name are in no bucket (listed above).")
        self.stdout.write(self.style.SUCCESS("Restore from the bucket complete; members set a password to sign in."))
