from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IssuanceConfig(AppConfig):
    name = "issuance"
    verbose_name = _("Issuance")

    def ready(self) -> None:
        # The rule catalogue sees every transfer and retirement through tracking's hook lists
        # (tracking may not import issuance).
        from issuance import rules
        from tracking import checks

        if rules.check_transfer not in checks.TRANSFER_CHECKS:
            checks.TRANSFER_CHECKS.append(rules.check_transfer)
        if rules.check_retirement not in checks.RETIREMENT_CHECKS:
            checks.RETIREMENT_CHECKS.append(rules.check_retirement)
