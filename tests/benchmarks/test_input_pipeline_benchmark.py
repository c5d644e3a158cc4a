"""The input-pipeline benchmark runs and reports the producer's throughput and its parts."""

from __future__ import annotations

import json

from benchmarks import input_pipeline


def test_input_pipeline_benchmark_reports_producer_throughput_and_parts(tmp_path, capsys) -> None:
    assert input_pipeline.main(["--items", "300", "--batch", "32", "--batches", "4", "--threads", "1",
                                "--image-size", "32", "--cache-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["producer_pairs_per_s"] > 0 and out["serial_pairs_per_s"] > 0 and out["batches"] == 4
    for part in ("false_negative_mask_ms", "gather_images_ms", "host_batch_ms", "sample_and_mask_ms"):
        assert out[part] >= 0
    assert out["image_mb_per_batch"] == round(out["unique_items_per_batch"] * 32 * 32 * 3 / 2**20, 1)
