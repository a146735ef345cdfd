"""Template tags of the admin index: the approval queue and the ledger's refused attempts."""

from django import template
from django.urls import reverse
from django.utils.http import urlencode

from registry.models import LedgerEvent, Project

register = template.Library()


@register.simple_tag
def approval_queue() -> list[dict]:
    """Queues waiting for an administrator, each with its count and its filtered list.

    Only project registrations have a pending state in the model.
    """
    changelist = reverse("admin:registry_project_changelist")
    return [
        {
            "label": Project._meta.verbose_name_plural,
            "count": Project.objects.filter(status=Project.Status.PENDING).count(),
            "url": changelist + "?" + urlencode({"status__exact": Project.Status.PENDING}),
        }
    ]


@register.simple_tag
def refused_attempts_url() -> str:
    """The ledger list filtered to refused attempts."""
    changelist = reverse("admin:registry_ledgerevent_changelist")
    return changelist + "?" + urlencode({"kind__exact": LedgerEvent.Kind.ATTEMPT_REFUSED})
