"""JSON Lines reading: plain and gzipped, bad lines reported through the SkipLog."""

from __future__ import annotations

import gzip

import pytest

from rcml_core.data.sources.jsonl import iter_json_lines, iter_lines
from rcml_core.data.format.skips import SkipLog
from rcml_core.errors import DataError
from raw_source_files import write_jsonl

RECORDS = [{"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "c", "v": 3}]


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.json", "r.json.gz"])
def test_reads_every_object_with_its_line_number_plain_or_gzipped(tmp_path, name):
    path = write_jsonl(tmp_path / name, RECORDS)
    got = list(iter_json_lines(path, SkipLog("fail"), required=["id"]))
    assert got == [(1, RECORDS[0]), (2, RECORDS[1]), (3, RECORDS[2])]


def test_gzip_is_detected_by_content_not_by_file_name(tmp_path):
    path = write_jsonl(tmp_path / "misnamed.jsonl", RECORDS, gz=True)
    assert [r["id"] for _, r in iter_json_lines(path, SkipLog("fail"))] == ["a", "b", "c"]


def test_blank_lines_are_not_records(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [RECORDS[0], "", "   ", RECORDS[1]])
    assert [n for n, _ in iter_json_lines(path, SkipLog("fail"))] == [1, 4]


def test_malformed_line_fails_naming_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl.gz", [RECORDS[0], '{"id": "x", ', RECORDS[1]])
    with pytest.raises(DataError, match=r"r\.jsonl\.gz:2: not valid JSON .*malformed_json"):
        list(iter_json_lines(path, SkipLog("fail")))


def test_malformed_lines_are_counted_and_skipped_under_skip(tmp_path):
    bad_utf8 = b'{"id": "\xff\xfe"}'
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "a"}\n{broken\n' + bad_utf8 + b'\n[1, 2]\n{"id": "b"}\n')
    skips = SkipLog("skip")
    got = [r["id"] for _, r in iter_json_lines(path, skips)]
    assert got == ["a", "b"]
    assert skips.counts["malformed_json"] == 3
    assert skips.examples["malformed_json"][0].startswith("r.jsonl:2:")
    assert "expected a JSON object, got list" in skips.examples["malformed_json"][2]


def test_missing_required_field_names_the_field(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [RECORDS[0], {"v": 5}, {"id": None}])
    with pytest.raises(DataError, match=r"r\.jsonl:2: required field 'id' is missing"):
        list(iter_json_lines(path, SkipLog("fail"), required=["id"]))
    skips = SkipLog("skip")
    assert [r["id"] for _, r in iter_json_lines(path, skips, required=["id"])] == ["a"]
    assert skips.counts["missing_field"] == 2


@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_truncated_gzip_raises_data_error_naming_the_file_under_either_policy(tmp_path, policy):
    data = gzip.compress(b"".join(b'{"id": "%d", "pad": "%s"}\n' % (i, b"x" * 50) for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.jsonl\.gz: the gzip stream is truncated or corrupt after line \d+"):
        list(iter_json_lines(path, SkipLog(policy)))


def test_json_array_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "array.json"
    path.write_text('[{"id": "a"},\n{"id": "b"}]\n')
    with pytest.raises(DataError, match="holds a JSON array; expected one JSON object per line"):
        list(iter_json_lines(path, SkipLog("skip")))


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(iter_lines(tmp_path / "nope.jsonl"))


def test_progress_bar_reads_the_same_records(tmp_path, capsys):
    path = write_jsonl(tmp_path / "r.jsonl.gz", RECORDS * 3000)
    got = list(iter_json_lines(path, SkipLog("fail"), progress=True))
    assert len(got) == 9000


def test_blank_id_fields_are_missing_fields_when_required_non_blank(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{"id": "a"}, {"id": "  "}, {"id": ""}])
    with pytest.raises(DataError, match=r"r\.jsonl:2: required field 'id' is empty"):
        list(iter_json_lines(path, SkipLog("fail"), ["id"], nonblank=["id"]))
    skips = SkipLog("skip")
    assert [r["id"] for _, r in iter_json_lines(path, skips, ["id"], nonblank=["id"])] == ["a"]
    assert skips.counts == {"missing_field": 2}
