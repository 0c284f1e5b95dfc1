"""Errors are exceptions a caller can branch on, with the CLI's message and no secret."""

import traceback

import pytest

import xp_export


def test_a_refused_apptoken_is_a_refused_error_that_does_not_show_it(emulator):
    token = "sk-live-0123456789abcdef"
    client = xp_export.Client(api_url=emulator.base_url, apptoken=token)
    with pytest.raises(xp_export.RefusedError) as e:
        list(client.push_actions())
    err = e.value
    assert isinstance(err, xp_export.Error)
    assert err.kind == "refused" and err.offset == 0 and err.model == "push-devices"
    assert emulator.requests == 1, "a refusal is not retried"
    shown = [str(err), repr(err), "".join(traceback.format_exception(err)), repr(client)]
    shown.append(repr(client.push_actions(campaign=1)))
    assert not any(token in text for text in shown)


def test_an_api_failing_after_its_retries_is_an_api_error_naming_the_offset():
    with xp_export.Emulator(records=3_000, fault_rate=1.0, faults=["500"]) as emu:
        client = xp_export.Client(
            api_url=emu.base_url, apptoken=emu.apptoken, max_retries=2, retry_max_delay=0.05
        )
        with pytest.raises(xp_export.ApiError) as e:
            list(client.push_actions(concurrency=1))
        assert e.value.kind == "server" and e.value.offset == 0 and e.value.status == 500
        assert emu.requests == 3, "the first try and two retries"
        assert "offset 0" in str(e.value)


def test_no_credential_is_a_config_error_saying_where_to_set_one(monkeypatch):
    for name in ("XTREMEPUSH_APPTOKEN", "XTREMEPUSH_CLIENT_ID", "XTREMEPUSH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(xp_export.ConfigError, match="XTREMEPUSH_APPTOKEN"):
        xp_export.Client()


def test_the_environment_gives_the_credentials_and_url(monkeypatch, emulator):
    monkeypatch.setenv("XTREMEPUSH_APPTOKEN", emulator.apptoken)
    monkeypatch.setenv("XTREMEPUSH_API_URL", emulator.base_url)
    assert len(list(xp_export.Client().push_actions(max_rows=10))) == 10


def test_an_oauth_client_secret_is_not_shown(emulator, monkeypatch):
    secret = "client-secret-9876543210"
    client = xp_export.Client(api_url=emulator.base_url, client_id="x", client_secret=secret)
    with pytest.raises(xp_export.Error) as e:
        list(client.push_actions())
    assert secret not in str(e.value) and secret not in repr(client)


@pytest.mark.parametrize(
    "keywords, message",
    [
        ({"where": ["device_id ~ 5"]}, "device_id"),
        ({"mode": "sideways"}, "sideways"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_bad_query_keywords_fail_before_any_request(client, emulator, keywords, message):
    with pytest.raises((xp_export.ConfigError, ValueError)) as e:
        list(client.push_actions(**keywords))
    assert message in str(e.value)
    assert emulator.requests == 0


def test_an_unknown_keyword_is_a_type_error_listing_the_known_ones(client):
    with pytest.raises(TypeError, match="campain.*campaign"):
        client.push_actions(campain=1)


def test_two_credentials_at_once_are_refused(emulator):
    with pytest.raises(xp_export.ConfigError, match="one credential"):
        xp_export.Client(apptoken="a", client_secret="b", client_id="c")
