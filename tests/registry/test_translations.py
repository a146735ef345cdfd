"""Simplified Chinese: every marked string is translated, the compiled catalogue is the one Django
loads, and the admin answers in Chinese to a browser that asks for it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.translation import override

from accounts.models import HoldingAccount, Organisation
from accounts.services import holding_account_set_status, organisation_create
from issuance.services import unit_claim_issue
from registry.errors import DomainError, DoubleClaim
from registry.models import Checkpoint, LedgerEvent, UnitClaim
from registry.serials import SerialRange
from registry.services import declaration_sign
from tests.conftest import month
from tracking.models import Block, Retirement

PO_FILE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def po_entries(path: Path) -> list[dict[str, str]]:
    """The entries of a .po file as {keyword: text} (msgid, msgstr, msgstr[0], ...), with the
    flags of each entry under "flags"; continuation lines are joined and unescaped."""
    entries: list[dict[str, str]] = []
    entry: dict[str, str] = {}
    keyword = None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            if entry:
                entries.append(entry)
            entry, keyword = {}, None
        elif line.startswith("#,"):
            entry["flags"] = entry.get("flags", "") + line[2:]
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[keyword] += ast.literal_eval(line)
        else:
            keyword, _, quoted = line.partition(" ")
            entry[keyword] = ast.literal_eval(quoted)
    return entries


MESSAGES = [entry for entry in po_entries(PO_FILE) if entry.get("msgid")]


def test_the_catalogue_is_parsed_and_compiled():
    assert len(MESSAGES) > 200
    assert MO_FILE.exists(), "run: python manage.py compilemessages -l zh_Hans"
    assert MO_FILE.stat().st_size > 0


@pytest.mark.parametrize("entry", MESSAGES, ids=lambda entry: entry["msgid"][:60])
def test_every_message_has_a_chinese_translation(entry):
    translations = [text for keyword, text in entry.items() if keyword.startswith("msgstr")]
    assert translations and all(text.strip() for text in translations), entry["msgid"]
    assert "fuzzy" not in entry.get("flags", "")
    assert all(re.search(r"[\u4e00-\u9fff]", text) for text in translations), entry["msgid"]
    for text in translations:
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(entry["msgid"]))


def test_model_names_and_choices_render_in_chinese():
    with override("zh-hans"):
        assert str(HoldingAccount._meta.verbose_name) == "持有账户"
        assert str(Organisation._meta.verbose_name) == "机构"
        assert str(UnitClaim._meta.verbose_name) == "单位权属记录"
        assert str(Block._meta.verbose_name_plural) == "证书段"
        assert str(Retirement._meta.verbose_name) == "注销记录"
        assert str(LedgerEvent._meta.verbose_name) == "账本事件"
        assert str(Checkpoint._meta.verbose_name) == "账本检查点"
        assert str(Block.Status.RETIRED.label) == "已注销"
        assert str(Block.Status.CANCELLED.label) == "已作废"
        assert str(HoldingAccount.Status.FROZEN.label) == "已冻结"
    with override("en"):
        assert str(HoldingAccount._meta.verbose_name) == "holding account"


def test_account_service_refusals_render_in_chinese(administrator, owner_account):
    with override("zh-hans"):
        with pytest.raises(DomainError) as unknown_kind:
            organisation_create(actor=administrator, code="new-org", name="New", kind="bogus")
        with pytest.raises(DomainError) as no_reason:
            holding_account_set_status(
                actor=administrator, account=owner_account, status="frozen", reason=" "
            )
        # A message without placeholders stays lazy, so it is read inside the override.
        assert str(unknown_kind.value.message) == "未知的机构类型 bogus。"
        assert str(no_reason.value.message) == "必须填写原因。"


def test_a_double_claim_is_explained_in_chinese(
    issuer, project_owner, wind_farm, march_record, owner_account
):
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    first = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        serial_range=SerialRange(1, 101),
    )
    with override("zh-hans"), pytest.raises(DoubleClaim) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="TIGR",
            production_record=march_record,
            account=owner_account,
            serial_range=SerialRange(50, 60),
        )
    serials = refusal.value.details["overlap"]["serials"]
    assert str(refusal.value.message) == (
        f"单位 {serials} 已由权属记录 {first.pk} 登记为 GEC，"
        f"并已核发至账户 {owner_account.number}（Wind Co）。"
        f" 现由 {owner_account.number} (Wind Co): 10 持有。"
    )


def test_admin_login_page_answers_in_chinese(client):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'lang="zh-hans"' in page
    assert "登录" in page
    assert "Log in" not in page


def test_admin_index_shows_the_registry_apps_in_chinese(client, administrator):
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for app_name in ("机构与账户", "登记簿核心", "证书追踪", "持有账户", "账本检查点"):
        assert app_name in page
