"""Atomic writes keep the old file on failure and leave no temporary file behind."""
import pandas as pd
import pytest

from distill.io.atomic import atomic_open, download_atomic, write_csv_atomic


def test_failure_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as out:
            out.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_csv_and_download(tmp_path):
    source = write_csv_atomic(tmp_path / "a" / "t.csv", pd.DataFrame({"x": [1, 2]}))
    copy = download_atomic(source.as_uri(), tmp_path / "b" / "t.csv")
    assert pd.read_csv(copy)["x"].tolist() == [1, 2]
    with pytest.raises(OSError):
        download_atomic((tmp_path / "missing.csv").as_uri(), tmp_path / "b" / "u.csv")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["t.csv"]
