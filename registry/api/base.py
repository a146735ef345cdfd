"""What every API view of the registry shares: the permission matrix, idempotency and errors.

Views are thin: they validate input with a serializer, call one service and serialize the
result. They never open a transaction themselves, because services commit refused-attempt
ledger events after rolling back the refused write, and an outer transaction would undo those.
"""

from __future__ import annotations

from django.http import Http404
from rest_framework import viewsets

from registry import access
from registry.api import idempotency
from registry.api.problems import ApiProblem


class IdempotentMixin:
    """Claims the ``Idempotency-Key`` of a POST after authentication and replays repeats."""

    _idempotency: idempotency.Claimed | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            self._idempotency = idempotency.begin(request)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return idempotency.replay_response(exc.record)
        try:
            return super().handle_exception(exc)
        except Exception:
            claimed, self._idempotency = self._idempotency, None
            if claimed is not None:  # a server error: let a retry act
                idempotency.forget(claimed)
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        claimed, self._idempotency = self._idempotency, None
        if claimed is not None:
            idempotency.finish(claimed, response)
        return response


class RegistryViewSetMixin(IdempotentMixin):
    """Lists and lookups start from the rows the caller may see (``registry.access``)."""

    resource: str = ""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # A lookup value with NUL (/mechanisms/%00/) names nothing, and PostgreSQL cannot even
        # be asked about it: the driver refuses the query with a server error.
        if any("\x00" in str(value) for value in kwargs.values()):
            raise Http404

    def base_queryset(self):
        return self.queryset.all()

    def get_queryset(self):
        return access.visible(self.request.user, self.resource, self.base_queryset())

    def validated(self, serializer_class, data=None) -> dict:
        """The request body (or ``data``) checked by an input serializer; 400 otherwise."""
        payload = serializer_class(data=self.request.data if data is None else data)
        payload.is_valid(raise_exception=True)
        return dict(payload.validated_data)

    def require(self, action: str, target=None) -> None:
        """Refuse with 403 ``permission_denied`` unless the matrix allows ``action``."""
        if not access.allowed(action, self.request.user, target):
            raise ApiProblem(
                access.refusal_message(action),
                code="permission_denied",
                status_code=403,
            )


class RegistryReadOnlyViewSet(RegistryViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class RegistryGenericViewSet(RegistryViewSetMixin, viewsets.GenericViewSet):
    pass
