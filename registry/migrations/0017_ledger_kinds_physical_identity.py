from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0016_physical_identity"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ledgerevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("organisation.created", "Organisation created"),
                    ("account.opened", "Account opened"),
                    ("account.status", "Account status changed"),
                    ("project.registered", "Project registered"),
                    ("project.status", "Project status changed"),
                    ("project.ownership_transferred", "Project ownership transferred"),
                    ("production.submitted", "Production submitted for verification"),
                    ("production.rejected", "Submitted production rejected"),
                    ("production.recorded", "Production recorded"),
                    ("declaration.signed", "Declaration signed"),
                    ("declaration.revoked", "Declaration revoked"),
                    ("issuance.requested", "Issuance requested"),
                    ("issuance.rejected", "Issuance request rejected"),
                    ("units.issued", "Units issued"),
                    ("claim.revoked", "Claim revoked"),
                    ("units.transferred", "Units transferred"),
                    ("units.retired", "Units retired"),
                    ("units.cancelled", "Units cancelled"),
                    ("units.expired", "Units expired"),
                    ("block.status", "Block status changed"),
                    ("attempt.refused", "Refused attempt"),
                    ("rule.flagged", "Rule flagged an operation"),
                    ("project.mechanism_registered", "Project registered for a mechanism"),
                    ("units.frozen", "Units frozen by a rule"),
                    ("allowances.allocated", "Allowances allocated"),
                    ("units.surrendered", "Units surrendered for compliance"),
                    ("adjustment.status", "Corresponding adjustment status changed"),
                    ("external.imported", "Records imported from another registry"),
                    ("external.matched", "Imported record linked to a project"),
                    ("emissions.verified", "Verified emissions recorded"),
                    ("neutrality_event.created", "Neutrality event recorded"),
                    ("retirement.allocated", "Part of a retirement allocated"),
                    ("mechanism.created", "Mechanism created"),
                    ("grid_region.created", "Grid region created"),
                    ("grid_region.updated", "Grid region updated"),
                    ("grid_data.imported", "Grid data imported"),
                    ("scope2.reported", "Scope 2 report made"),
                    ("ledger.sealed", "Ledger sealed by a person"),
                    ("green_power.contract_created", "Green power contract created"),
                    ("consumption.recorded", "Electricity consumption recorded"),
                    ("green_power.settled", "Green power month settled"),
                    ("green_power.confirmed", "Green power settlement confirmed"),
                ],
                max_length=32,
                verbose_name="kind",
            ),
        ),
    ]
