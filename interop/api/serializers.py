"""Serializers of imports from other registries, their records and match decisions."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from interop.formats import CANONICAL_FIELDS
from interop.models import ExternalRecord, ImportBatch, ImportRow, MatchSuggestion
from registry.models import Project


class ImportBatchSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "layout",
            "format",
            "filename",
            "content_sha256",
            "status",
            "error",
            "total",
            "processed",
            "imported_count",
            "flagged_count",
            "duplicate_count",
            "invalid_count",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


class ImportCreateSerializer(serializers.Serializer):
    layout = serializers.ChoiceField(choices=ImportBatch.Layout.choices)
    format = serializers.ChoiceField(
        choices=ImportBatch.Format.choices,
        required=False,
        help_text="Format of `content`: csv (default) or json. Leave out with `rows`.",
    )
    filename = serializers.CharField(max_length=255, required=False, allow_blank=True)
    content = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text="The file as text: CSV with a header row, or a JSON list of objects.",
    )
    rows = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        min_length=1,
        help_text="The records as JSON objects (keys: the layout's columns).",
    )

    def validate(self, attrs):
        if ("content" in attrs) == ("rows" in attrs):
            raise serializers.ValidationError(
                {"content": [_("Give either content (the file as text) or rows, not both.")]},
                code="content_or_rows",
            )
        if "rows" in attrs and attrs.get("format", "json") != "json":
            raise serializers.ValidationError(
                {"format": [_("rows are JSON objects: leave format out or give json.")]},
                code="invalid",
            )
        return attrs


class ImportRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRow
        fields = ["row_number", "outcome", "errors", "external_record", "flags"]


class MatchSuggestionSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="code", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = MatchSuggestion
        fields = [
            "project",
            "project_name",
            "score",
            "breakdown",
            "status",
            "decided_by",
            "decided_at",
        ]


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "start": {"type": "string", "format": "date"},
            "end": {"type": "string", "format": "date", "description": "last day, inclusive"},
        },
    }
)
class DayPeriodField(serializers.Field):
    """Whole days, as the files write them: first and last day (inclusive)."""

    def to_representation(self, value):
        return {
            "start": value.lower.isoformat(),
            "end": (value.upper - dt.timedelta(days=1)).isoformat(),
        }


class ExternalRecordSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="code", read_only=True)
    linked_by = serializers.CharField(source="linked_by.username", read_only=True, default=None)
    period = DayPeriodField(read_only=True)
    suggestions = MatchSuggestionSerializer(many=True, read_only=True)

    class Meta:
        model = ExternalRecord
        fields = [
            "id",
            "source",
            "external_id",
            "kind",
            "mechanism_code",
            "unit_kind",
            "external_project_id",
            "project_name",
            "country",
            "province",
            "location",
            "technology",
            "capacity_mw",
            "period",
            "quantity",
            "serials",
            "transaction_date",
            "beneficiary",
            "project",
            "link_method",
            "linked_by",
            "linked_at",
            "batch",
            "imported_at",
            "suggestions",
        ]


class MatchDecisionSerializer(serializers.Serializer):
    project = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Project.objects.all(),
        help_text="Code of the project the decision is about.",
    )


class ExportQuerySerializer(serializers.Serializer):
    mechanism = serializers.CharField(max_length=16, required=False)
    vintage = serializers.IntegerField(min_value=190001, max_value=999912, required=False)
    project = serializers.CharField(max_length=6, required=False)


class ExportRowSerializer(serializers.Serializer):
    """One canonical row (docs/interop.md); every value is text, "" when unknown."""

    locals().update({name: serializers.CharField(allow_blank=True) for name in CANONICAL_FIELDS})
