"""The approval queues counted on the admin index.

Each app's admin registers its own queues here, so that the index shows every queue without
the core importing the apps built on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Model
from django.urls import reverse
from django.utils.http import urlencode


@dataclass(frozen=True)
class ApprovalQueue:
    """Rows of ``model`` whose ``status_field`` is ``pending_value`` wait for an administrator;
    ``count`` runs one indexed COUNT per index page load."""

    model: type[Model]
    status_field: str = "status"
    pending_value: str = "pending"

    @property
    def label(self) -> Any:
        return self.model._meta.verbose_name_plural

    def count(self) -> int:
        return self.model._default_manager.filter(**{self.status_field: self.pending_value}).count()

    def url(self) -> str:
        opts = self.model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        return changelist + "?" + urlencode({f"{self.status_field}__exact": self.pending_value})


QUEUES: list[ApprovalQueue] = []


def register_approval_queue(queue: ApprovalQueue) -> None:
    if queue not in QUEUES:
        QUEUES.append(queue)
