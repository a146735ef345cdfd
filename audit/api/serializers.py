"""Serializers of uniqueness reports: the scope a caller asks for and the report it follows."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.checks import CHECKS_BY_ID
from audit.models import ReportCheck, UniquenessReport

DOWNLOAD_FORMATS = ("json", "csv", "html", "pdf")


class BlankAsNullCharField(serializers.CharField):
    """A text column whose empty value means "not yet": null in the answer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value or None


class ReportScopeSerializer(serializers.Serializer):
    """What a report covers. Every field is optional; none at all is the whole registry. The
    values are checked by ``audit.scope.ReportScope`` (a bad one: 400, reason invalid_scope)."""

    mechanism = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, help_text="Mechanism code, e.g. GEC."
    )
    project = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, help_text="Project code."
    )
    province = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Province of the projects (ISO 3166-2), e.g. CN-HE.",
    )
    organisation = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Code of the organisation that owns the projects.",
    )
    vintage_from = serializers.IntegerField(
        required=False, allow_null=True, help_text="First vintage month, YYYYMM (e.g. 202501)."
    )
    vintage_to = serializers.IntegerField(
        required=False, allow_null=True, help_text="Last vintage month, YYYYMM (e.g. 202512)."
    )


class ReportProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(source="work_done", read_only=True)
    total = serializers.IntegerField(source="work_total", read_only=True)


class ReportCheckpointSerializer(serializers.Serializer):
    """The ledger checkpoint the report covers (all null when nothing had been sealed)."""

    sequence = serializers.IntegerField(source="checkpoint_sequence", allow_null=True)
    checkpoint_hash = BlankAsNullCharField()
    merkle_root = BlankAsNullCharField(source="checkpoint_root")
    last_event_id = serializers.IntegerField(allow_null=True)


class ReportLinksSerializer(serializers.Serializer):
    """Where the report's content is downloaded, once it has finished."""

    json = serializers.URLField(read_only=True)
    csv = serializers.URLField(read_only=True)
    html = serializers.URLField(read_only=True)
    pdf = serializers.URLField(read_only=True)

    def to_representation(self, instance):
        base = reverse("uniqueness-report-detail", args=[instance.pk])
        request = self.context.get("request")
        links = {}
        for name in DOWNLOAD_FORMATS:
            path = f"{base}report.{name}"
            links[name] = request.build_absolute_uri(path) if request is not None else path
        return links


class ReportCheckSerializer(serializers.ModelSerializer):
    """One check's outcome: recorded completely or not at all (absent while not yet run)."""

    id = serializers.CharField(source="check_id", read_only=True)
    title = serializers.SerializerMethodField()

    class Meta:
        model = ReportCheck
        fields = [
            "id",
            "position",
            "title",
            "verdict",
            "examined",
            "offending",
            "counts",
            "completed_at",
        ]

    @extend_schema_field(str)
    def get_title(self, report_check: ReportCheck) -> str:
        check = CHECKS_BY_ID.get(report_check.check_id)
        return str(check.title) if check else report_check.check_id


class UniquenessReportSerializer(serializers.ModelSerializer):
    """A report as it stands: progress while it runs, each check's verdict as it completes, the
    content hash and checkpoint once it has finished."""

    progress = ReportProgressSerializer(source="*", read_only=True)
    scope = ReportScopeSerializer(read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.username", read_only=True, default=None, allow_null=True
    )
    checkpoint = ReportCheckpointSerializer(source="*", read_only=True)
    content_sha256 = BlankAsNullCharField(
        help_text="SHA-256 of the report's JSON (report.json), once it has finished."
    )
    error = BlankAsNullCharField(help_text="Why it could not run (status error).")
    checks = ReportCheckSerializer(many=True, read_only=True)
    links = ReportLinksSerializer(source="*", read_only=True)

    class Meta:
        model = UniquenessReport
        fields = [
            "id",
            "public_id",
            "status",
            "phase",
            "progress",
            "scope",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
            "attempts",
            "checkpoint",
            "content_sha256",
            "error",
            "checks",
            "links",
        ]
        read_only_fields = fields
