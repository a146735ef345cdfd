"""Seed the mechanisms (docs/domain.md, the instruments) as data; administrators may adjust them later."""

from django.db import migrations

MECHANISMS = [
    # code, name, Chinese name, unit kind, kind, validity months, transfers, declaration,
    # derivable, issuing body
    ("GEC", "China Green Electricity Certificate", "绿色电力证书", "E", "certificate", 24, 1,
     False, False, "National renewable energy information management centre"),
    ("IREC", "International REC (I-REC(E))", "国际绿证", "E", "certificate", None, None, True,
     False, "I-REC Standard via local issuer"),
    ("TIGR", "Tradable Instrument for Global Renewables", "TIGR 绿证", "E", "certificate", None,
     None, True, False, "APX"),
    ("CCER", "China Certified Emission Reduction", "国家核证自愿减排量", "C", "certificate", None,
     None, True, True, "National GHG voluntary emission reduction registry"),
    ("VCU", "Verified Carbon Unit (Verra VCS)", "VCS 核证碳单位", "C", "certificate", None, None,
     True, True, "Verra"),
    ("VER", "Gold Standard Verified Emission Reduction", "黄金标准减排量", "C", "certificate", None,
     None, True, True, "Gold Standard"),
    ("PHCER", "Local inclusive carbon credit (碳普惠)", "碳普惠核证减排量", "C", "certificate",
     None, None, True, True, "Provincial inclusive-carbon scheme"),
    ("EUR", "Energy-use right (用能权)", "用能权", "T", "certificate", None, None, False, False,
     "Provincial energy-use-rights pilot"),
    ("CEA", "China Emission Allowance", "全国碳排放配额", "C", "allowance", None, None, False,
     False, "Ministry of Ecology and Environment"),
]


def seed(apps, schema_editor):
    Mechanism = apps.get_model("registry", "Mechanism")
    for (code, name, name_zh, unit_kind, kind, validity, transfers, declaration, derivable,
         body) in MECHANISMS:
        Mechanism.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "name_zh": name_zh,
                "unit_kind": unit_kind,
                "kind": kind,
                "validity_months": validity,
                "max_transfers": transfers,
                "requires_declaration": declaration,
                "accepts_derived_units": derivable,
                "issuing_body_name": body,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
