"""``POST /api/v1/accounting/scenarios/``: the scenario calculator.

A calculation, not a write: it reads nothing from the registry and stores nothing, so any
authenticated user may run it (like the other reads). The body is the scenario itself; the pure
module ``tracking.accounting.scenario`` checks it (a refusal answers 400 ``validation_error``
naming the field as a JSON path) and computes the figures. The serializers below only describe
the body and the answer in the OpenAPI schema.
"""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from registry.api.base import RegistryGenericViewSet
from registry.errors import DomainError
from tracking.accounting import scenario


def translated(error: scenario.ScenarioError) -> str:
    """The refusal in the caller's language (the pure module only marks its messages)."""
    message = gettext(error.template)
    return message % error.params if error.params else message


# --- the schema of the body -------------------------------------------------------------------


class ScenarioGeneratorSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Unique among generators.")
    region = serializers.CharField(help_text='Any region id but "combined".')
    emission_factor = serializers.FloatField(
        min_value=0,
        max_value=float(scenario.MAX_EMISSION_FACTOR),
        help_text="tCO2/MWh; 0 is a renewable generator, the only kind certificates may name.",
    )


class ScenarioQuantitySerializer(serializers.Serializer):
    generator = serializers.CharField(help_text="The id of a generator of this scenario.")
    mwh = serializers.FloatField(min_value=0, max_value=float(scenario.MAX_MWH))


class ScenarioConsumerSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Unique among consumers.")
    region = serializers.CharField(help_text='Any region id but "combined".')
    purchases = ScenarioQuantitySerializer(many=True)
    certificates = ScenarioQuantitySerializer(
        many=True,
        required=False,
        help_text=(
            "Certificates held; per generator never more than the purchases from it, and only "
            "of renewable generators. Left out: none."
        ),
    )


class ScenarioSerializer(serializers.Serializer):
    generators = ScenarioGeneratorSerializer(many=True)
    consumers = ScenarioConsumerSerializer(many=True)


# --- the schema of the answer -----------------------------------------------------------------


class SchemeFiguresSerializer(serializers.Serializer):
    emissions_t = serializers.FloatField(
        help_text="tCO2; under scheme 3 it may be negative (see docs/architecture.md)."
    )
    green_reduction_t = serializers.FloatField(help_text="tCO2, e_g times the factor applied.")


class ConsumerSchemesSerializer(serializers.Serializer):
    scheme_1 = SchemeFiguresSerializer()
    scheme_2 = SchemeFiguresSerializer()
    scheme_3 = SchemeFiguresSerializer()
    scheme_4 = SchemeFiguresSerializer()


class RegionTotalsSerializer(serializers.Serializer):
    actual_emissions_t = serializers.FloatField()
    scheme_1_total_t = serializers.FloatField()
    scheme_2_total_t = serializers.FloatField()
    scheme_3_total_t = serializers.FloatField()
    scheme_4_total_t = serializers.FloatField()


class ScenarioResultSerializer(serializers.Serializer):
    factors = serializers.DictField(
        child=serializers.FloatField(),
        help_text='EF_i* (t/MWh) per region with consumers, and "combined" (EF*).',
    )
    consumers = serializers.DictField(child=ConsumerSchemesSerializer())
    regions = serializers.DictField(child=RegionTotalsSerializer())


EXAMPLE = {
    "generators": [
        {"id": "A", "region": "R1", "emission_factor": 0.9},
        {"id": "B", "region": "R1", "emission_factor": 0},
    ],
    "consumers": [
        {
            "id": "C",
            "region": "R1",
            "purchases": [{"generator": "A", "mwh": 100}, {"generator": "B", "mwh": 50}],
            "certificates": [{"generator": "B", "mwh": 20}],
        }
    ],
}


class ScenarioViewSet(RegistryGenericViewSet):
    """Emission scenarios: adjusted factors and the four allocation schemes (docs/domain.md)."""

    resource = "scenario"
    serializer_class = ScenarioSerializer
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        request=ScenarioSerializer,
        responses={200: ScenarioResultSerializer},
        examples=[OpenApiExample("One region", value=EXAMPLE, request_only=True)],
    )
    def create(self, request):
        """Compute a scenario: each region's adjusted factor EF_i* and actual emissions, the
        combined factor EF*, and each consumer's emissions and green reduction under schemes 1
        to 4 (3 and 4 scaled by beta so that regional totals equal actual emissions). Refused
        input answers 400 naming the field (``consumers[0].purchases[1].mwh``)."""
        try:
            result = scenario.compute(scenario.parse(request.data))
        except scenario.ScenarioError as error:
            raise DomainError(
                translated(error), code="invalid_scenario", field=error.field
            ) from None
        return Response(scenario.as_json(result))
