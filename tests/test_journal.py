"""state/journal.py: the journal of writes in flight."""

from voicebot_sync.state.journal import Journal


def test_an_unreadable_journal_is_kept_aside_and_reported_never_read_as_empty(tmp_path):
    path = tmp_path / "journal.json"
    path.write_text("{not json")
    journal = Journal(str(path))
    assert journal.problem and (tmp_path / "journal.json.bad").exists()
