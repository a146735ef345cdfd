"""Organisations, users, roles and holding accounts."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.roles import Role


class Organisation(models.Model):
    """A legal entity that owns projects, holds accounts, issues certificates or audits.

    Guarantees a unique registry code; the kind says what the organisation does in the registry,
    but what a person may do is decided by the role of the user acting for it.
    """

    class Kind(models.TextChoices):
        REGULATOR = "regulator", _("Registry operator / regulator")
        ISSUING_BODY = "issuing_body", _("Issuing body")
        PROJECT_OWNER = "project_owner", _("Project owner")
        TRADER = "trader", _("Trader or consumer")
        AUDITOR = "auditor", _("Auditor")

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    country = models.CharField(_("country"), max_length=2, default="CN")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class User(AbstractUser):
    """A person acting for one organisation in one role.

    Registry administrators have the administrator role and may have no organisation.
    """

    Role = Role

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.PUBLIC)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def is_registry_administrator(self) -> bool:
        return self.is_superuser or self.role == self.Role.ADMINISTRATOR


class HoldingAccount(models.Model):
    """An account in which an organisation holds certificate blocks.

    Status changes only through ``accounts.services`` (compare-and-set). A frozen account can
    neither send nor receive; a closed account never reopens.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    number = models.CharField(_("account number"), max_length=32, unique=True)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="holding_accounts",
    )
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("holding account")
        verbose_name_plural = _("holding accounts")
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"
