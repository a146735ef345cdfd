"""The roles a person can have in the registry; the permission rules refer to these."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", _("Registry administrator")
    ISSUER = "issuer", _("Issuing body officer")
    PROJECT_OWNER = "project_owner", _("Project owner")
    HOLDER = "holder", _("Account holder")
    AUDITOR = "auditor", _("Auditor")
    PUBLIC = "public", _("No role")
