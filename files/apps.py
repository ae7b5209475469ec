from django.apps import AppConfig
from django.core.signals import setting_changed

from files import storage


class FilesConfig(AppConfig):
    name = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from files import checks  # noqa: F401 - registers the system checks; here, as they load the tasks

        setting_changed.connect(storage.storages_reset, dispatch_uid="files.storages_reset")
