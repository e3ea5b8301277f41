"""state/statedir.py: one state folder per account, however its URL is spelled."""


def test_one_account_however_its_url_is_spelled():
    from voicebot_sync.state.statedir import account_id

    same = ["https://voicebot.intron.health/voicebot/v1", "https://VOICEBOT.intron.health:443/voicebot/v1/"]
    assert len({account_id(u, "K") for u in same}) == 1
    loop = ["http://127.0.0.1:8080/voicebot/v1", "http://localhost:8080/voicebot/v1/"]
    assert len({account_id(u, "K") for u in loop}) == 1
