"""nst-ta-quick is nst-ta made quick (issue 26): the same teachers, assistant chain, students and NST settings; only
the image size, the epochs and the text differ."""
from distill import protocols


def test_nst_ta_quick_keeps_the_chain_and_the_methods_of_nst_ta():
    full, quick = protocols.load_config("nst-ta"), protocols.load_config("nst-ta-quick")
    assert quick.teacher == full.teacher
    assert quick.students == full.students
    assert [quick.students[name].teacher for name in ("ta101", "ta50", "ta34")] == ["teacher", "ta101", "ta50"]
    assert (quick.data.size, quick.train.epochs) == (8, 3) and (full.data.size, full.train.epochs) == (12, 5)
    assert quick.cv == full.cv and quick.seed == full.seed
