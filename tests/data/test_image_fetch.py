"""Image resolution: local folder, download with retries into a cache, failures counted."""

from __future__ import annotations

import pytest

from rcml_core.data.sources.image_fetch import (
    ImageRef,
    ImageSourceConfig,
    cache_key,
    download_image,
    ImageFetchError,
    resolve_images,
)
from rcml_core.data.format.skips import SkipLog
from rcml_core.errors import ConfigError, DataError
from http_images import serve
from raw_source_files import image_bytes, write_image

PNG = image_bytes((10, 200, 30), "PNG")
JPEG = image_bytes((200, 10, 30), "JPEG")


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _dl_config(tmp_path, **kw) -> ImageSourceConfig:
    kw = {"download": True, "cache_dir": tmp_path / "cache", "backoff_s": 0.01, "timeout_s": 5.0, "workers": 2} | kw
    return ImageSourceConfig(**kw)


def test_local_folder_finds_item_id_with_any_image_extension_or_the_url_basename(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "A1.jpg", (1, 2, 3))
    write_image(folder / "B2.PNG", (1, 2, 3))
    write_image(folder / "cover_99.webp", (1, 2, 3))
    refs = [
        ImageRef("A1", "https://img.example/x/ignored.jpg"),
        ImageRef("B2", None),
        ImageRef("C3", "https://img.example/covers/cover_99.webp?size=large"),
    ]
    res = resolve_images(refs, ImageSourceConfig(images_dir=folder), SkipLog("fail"))
    assert res.paths == {"A1": folder / "A1.jpg", "B2": folder / "B2.PNG", "C3": folder / "cover_99.webp"}
    assert (res.n_local, res.n_downloaded, res.n_missing) == (3, 0, 0)


def test_missing_local_image_fails_naming_item_and_url(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    refs = [ImageRef("Z9", "https://img.example/z9.jpg")]
    with pytest.raises(DataError, match=r"item Z9: no local image file for https://img\.example/z9\.jpg"):
        resolve_images(refs, ImageSourceConfig(images_dir=folder), SkipLog("fail"))


def test_missing_local_image_is_counted_under_skip_and_the_rest_resolve(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "A1.png", (1, 2, 3))
    skips = SkipLog("skip")
    refs = [ImageRef("A1", None), ImageRef("Z9", None, "image_url is a placeholder")]
    res = resolve_images(refs, ImageSourceConfig(images_dir=folder), skips)
    assert list(res.paths) == ["A1"] and res.n_missing == 1
    assert skips.counts == {"missing_image": 1}
    assert "item Z9: no image: image_url is a placeholder" in skips.examples["missing_image"][0]


def test_download_retries_a_transient_failure_then_caches_and_reuses_the_file(tmp_path):
    files = {"a.png": PNG, "b.jpg": JPEG}
    with serve(files, fail_first={"a.png"}) as srv:
        refs = [ImageRef("A", srv.url("a.png")), ImageRef("B", srv.url("b.jpg")), ImageRef("A2", srv.url("a.png"))]
        cfg = _dl_config(tmp_path)
        res = resolve_images(refs, cfg, SkipLog("fail"))
        assert srv.hits["a.png"] == 2  # one 503, one success; the duplicate URL is fetched once
        assert srv.hits["b.jpg"] == 1
    assert res.n_downloaded == 2 and res.n_missing == 0
    assert res.paths["A"] == res.paths["A2"] == tmp_path / "cache" / f"{cache_key(refs[0].url)}.png"
    assert res.paths["B"].suffix == ".jpg" and res.paths["B"].read_bytes() == JPEG
    assert not list((tmp_path / "cache").glob(".part-*"))  # atomic writes leave no temporaries
    # The server is gone now: a second run is served entirely from the cache.
    again = resolve_images(refs, cfg, SkipLog("fail"))
    assert again.paths == res.paths and again.n_cached == 3 and again.n_downloaded == 0


def test_download_that_always_fails_is_a_missing_image_after_all_retries(tmp_path):
    with serve({}, always_fail={"dead.png"}) as srv:
        refs = [ImageRef("D", srv.url("dead.png"))]
        with pytest.raises(DataError, match=r"item D: could not download .*dead\.png: HTTP 500 .* after 3 attempts"):
            resolve_images(refs, _dl_config(tmp_path, retries=2), SkipLog("fail"))
        assert srv.hits["dead.png"] == 3


def test_download_failures_are_counted_under_skip_and_others_still_download(tmp_path):
    with serve({"ok.png": PNG, "html.png": b"<html>not an image</html>"}, always_fail={"dead.png"}) as srv:
        refs = [
            ImageRef("OK", srv.url("ok.png")),
            ImageRef("DEAD", srv.url("dead.png")),
            ImageRef("GONE", srv.url("gone.png")),
            ImageRef("HTML", srv.url("html.png")),
        ]
        skips = SkipLog("skip")
        res = resolve_images(refs, _dl_config(tmp_path, retries=1), skips)
        assert srv.hits["gone.png"] == 1  # a 404 is permanent: no retry
        assert srv.hits["html.png"] == 1  # so is a body that is not an image
    assert list(res.paths) == ["OK"]
    assert skips.counts == {"missing_image": 3}
    text = " | ".join(skips.examples["missing_image"])
    assert "item DEAD" in text and "item GONE" in text and "HTTP 404" in text and "not a decodable image" in text
    assert set(res.failures) == {refs[1].url, refs[2].url, refs[3].url}


def test_download_larger_than_the_size_limit_is_refused(tmp_path):
    big = image_bytes((5, 5, 5), "PNG", size=400) + b"\0" * 4096
    with serve({"big.png": big}) as srv:
        with pytest.raises(ImageFetchError, match="exceeds the limit of 2048"):
            download_image(srv.url("big.png"), tmp_path, _dl_config(tmp_path, max_bytes=2048))
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob(".part-*"))


def test_unreachable_host_is_retried_then_reported(tmp_path):
    with serve({}) as srv:
        dead_url = srv.url("x.png")
    # the server has shut down: connection refused on every attempt
    with pytest.raises(ImageFetchError, match="cannot connect.* after 2 attempts"):
        download_image(dead_url, tmp_path, _dl_config(tmp_path, retries=1))


def test_non_http_urls_are_refused(tmp_path):
    with pytest.raises(ImageFetchError, match="unsupported URL scheme 'file'"):
        download_image("file:///etc/passwd", tmp_path, _dl_config(tmp_path))


def test_local_folder_is_tried_before_downloading(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "L.png", (9, 9, 9))
    with serve({"r.png": PNG}) as srv:
        refs = [ImageRef("L", srv.url("l.png")), ImageRef("R", srv.url("r.png"))]
        res = resolve_images(refs, _dl_config(tmp_path, images_dir=folder), SkipLog("fail"))
        assert srv.hits == {"r.png": 1}
    assert res.paths["L"] == folder / "L.png" and (res.n_local, res.n_downloaded) == (1, 1)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({}, "give images_dir"),
        ({"download": True}, "cache_dir is required"),
        ({"images_dir": "/no/such/folder"}, "images_dir must be an existing folder"),
        ({"download": True, "cache_dir": "c", "retries": -1}, r"retries must be an integer in \[0, 20\]"),
        ({"download": True, "cache_dir": "c", "workers": 0}, r"workers must be an integer in \[1, 64\]"),
        ({"download": True, "cache_dir": "c", "timeout_s": 0}, "timeout_s must be > 0"),
    ],
)
def test_config_rejects_invalid_settings_naming_the_field(kw, message):
    with pytest.raises(ConfigError, match=message):
        ImageSourceConfig(**kw)
