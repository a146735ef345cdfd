"""Every admin page, the log-in page included, carries a switch between English and Simplified
Chinese, and the switch changes the language of the next page."""

from django.urls import reverse


def test_login_page_offers_chinese_and_switching_turns_the_admin_chinese(client):
    login_page = client.get(reverse("admin:login"))
    assert login_page.status_code == 200
    page = login_page.content.decode()
    assert 'id="language-switch"' in page
    assert 'value="zh-hans"' in page
    assert "Environmental attribute registry" in page

    switched = client.post(
        reverse("set_language"), {"language": "zh-hans", "next": reverse("admin:login")}
    )
    assert switched.status_code == 302
    chinese = client.get(reverse("admin:login")).content.decode()
    assert 'lang="zh-hans"' in chinese
    assert "环境权益登记簿" in chinese
    assert 'value="en"' in chinese


def test_admin_index_has_the_switch_beside_the_user_links(client, administrator):
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="language-switch"' in page
    assert "Registry administration" in page
