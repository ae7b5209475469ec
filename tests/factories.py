from __future__ import annotations

import hashlib

import factory

from accounts.models import Membership, Role, Tenant, User
from files.models import Blob, File, FileVersion

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.EDITOR


def current_versions_for(files: list, *, owner: User) -> list:
    """Gives file rows made with bulk_create a first version each, on a blob of its own (rows
    only, no bytes in S3): what a listing needs to show them. Returns the blobs, in order."""
    tenant_id = files[0].tenant_id if files else None
    blobs = Blob.objects.bulk_create(
        [
            Blob(
                tenant_id=tenant_id,
                sha256=hashlib.sha256(f.pk.bytes).hexdigest(),
                size=f.size,
                content_type=f.content_type,
                storage_key=f"tenants/{tenant_id}/blobs/{f.pk.hex}",
            )
            for f in files
        ]
    )
    versions = FileVersion.objects.bulk_create(
        [
            FileVersion(tenant_id=tenant_id, file=f, number=1, blob=b, uploaded_by=owner)
            for f, b in zip(files, blobs, strict=True)
        ]
    )
    for file, version in zip(files, versions, strict=True):
        file.current_version = version
    File.objects.bulk_update(files, ["current_version"])
    return blobs
