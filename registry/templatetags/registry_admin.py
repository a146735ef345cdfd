"""Template tags of the admin index: the approval queue and the ledger's refused attempts."""

from django import template
from django.urls import reverse
from django.utils.http import urlencode

from registry import admin_queues
from registry.models import LedgerEvent

register = template.Library()


@register.simple_tag
def approval_queue() -> list[dict]:
    """Queues waiting for an administrator (registered by each app's admin), each with its
    count and its filtered list."""
    return [
        {"label": queue.label, "count": queue.count(), "url": queue.url()}
        for queue in admin_queues.QUEUES
    ]


@register.simple_tag
def refused_attempts_url() -> str:
    """The ledger list filtered to refused attempts."""
    changelist = reverse("admin:registry_ledgerevent_changelist")
    return changelist + "?" + urlencode({"kind__exact": LedgerEvent.Kind.ATTEMPT_REFUSED})
