"""ListObjects v1/v2: pagination, prefix, delimiter, max-keys, encoding-type,
fetch-owner, UTF-8 binary key order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import re
from urllib.parse import unquote, unquote_plus

import pytest

from helpers import assert_raw_error, expect_error, md5_hex


def put_keys(s3, bucket, keys, body=b"x"):
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body), keys))


def all_v2(s3, bucket, **kw):
    """Page through ListObjectsV2; returns (keys, prefixes, pages)."""
    keys, prefixes, pages = [], [], []
    token = None
    for _ in range(10_000):
        args = dict(kw, Bucket=bucket)
        if token:
            args["ContinuationToken"] = token
        r = s3.list_objects_v2(**args)
        pages.append(r)
        keys += [o["Key"] for o in r.get("Contents", [])]
        prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        assert r["KeyCount"] == len(r.get("Contents", [])) + len(r.get("CommonPrefixes", []))
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        token = r["NextContinuationToken"]
        assert token, "truncated ListObjectsV2 page without NextContinuationToken"
    return keys, prefixes, pages


def all_v1(s3, bucket, **kw):
    keys, prefixes, pages = [], [], []
    marker = None
    for _ in range(10_000):
        args = dict(kw, Bucket=bucket)
        if marker is not None:
            args["Marker"] = marker
        r = s3.list_objects(**args)
        pages.append(r)
        page_keys = [o["Key"] for o in r.get("Contents", [])]
        page_prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        keys += page_keys
        prefixes += page_prefixes
        if not r["IsTruncated"]:
            break
        if "Delimiter" in kw:
            assert r.get("NextMarker"), "truncated v1 listing with a delimiter must carry NextMarker"
            marker = r["NextMarker"]
        else:
            marker = r.get("NextMarker") or page_keys[-1]
    return keys, prefixes, pages


# ---------------------------------------------------------------- basics


def test_list_v2_basic_fields(s3, bucket):
    s3.put_object(Bucket=bucket, Key="b", Body=b"12345")
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    r = s3.list_objects_v2(Bucket=bucket)
    assert r["Name"] == bucket
    assert r["KeyCount"] == 2
    assert r["MaxKeys"] == 1000
    assert r["IsTruncated"] is False
    assert [o["Key"] for o in r["Contents"]] == ["a", "b"]
    b = r["Contents"][1]
    assert b["Size"] == 5
    assert b["ETag"] == f'"{md5_hex(b"12345")}"'
    assert b["StorageClass"] == "STANDARD"
    assert "LastModified" in b
    assert "Owner" not in b, "ListObjectsV2 returns Owner only with fetch-owner=true"


def test_list_v2_empty_bucket(s3, raw, bucket):
    r = s3.list_objects_v2(Bucket=bucket)
    assert r["KeyCount"] == 0
    assert r["IsTruncated"] is False
    assert "Contents" not in r
    x = raw.get(f"/{bucket}", params={"list-type": "2"})
    root = x.xml()
    assert root.tag == "ListBucketResult"
    assert root.findtext("KeyCount") == "0"
    assert root.findtext("IsTruncated") == "false"


def test_list_v1_basic_fields(s3, bucket):
    put_keys(s3, bucket, ["x/1", "x/2", "y"])
    r = s3.list_objects(Bucket=bucket)
    assert r["Name"] == bucket
    assert r["MaxKeys"] == 1000
    assert r["IsTruncated"] is False
    assert [o["Key"] for o in r["Contents"]] == ["x/1", "x/2", "y"]
    for o in r["Contents"]:
        assert o["Size"] == 1
        assert o["ETag"] == f'"{md5_hex(b"x")}"'
        assert o.get("Owner", {}).get("ID"), "ListObjects v1 returns Owner for each object"


def test_list_missing_bucket(s3):
    expect_error(lambda: s3.list_objects_v2(Bucket="t-missing-list-bucket"), "NoSuchBucket", 404)
    expect_error(lambda: s3.list_objects(Bucket="t-missing-list-bucket"), "NoSuchBucket", 404)


def test_list_v2_fetch_owner(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    r = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert r["Contents"][0].get("Owner", {}).get("ID")
    r = s3.list_objects_v2(Bucket=bucket, FetchOwner=False)
    assert "Owner" not in r["Contents"][0]


# ---------------------------------------------------------------- pagination


KEYS5 = ["k1", "k2", "k3", "k4", "k5"]


def test_list_v2_continuation(s3, bucket):
    put_keys(s3, bucket, KEYS5)
    keys, _, pages = all_v2(s3, bucket, MaxKeys=2)
    assert keys == KEYS5
    assert [p["KeyCount"] for p in pages] == [2, 2, 1]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    for p in pages[1:]:
        assert p.get("ContinuationToken"), "the continuation token used must be echoed back"


def test_list_v2_is_truncated_exact_fit(s3, bucket):
    put_keys(s3, bucket, KEYS5)
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=5)
    assert r["KeyCount"] == 5
    assert r["IsTruncated"] is False
    assert "NextContinuationToken" not in r
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=4)
    assert r["KeyCount"] == 4
    assert r["IsTruncated"] is True
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=4, StartAfter="k1")
    assert r["KeyCount"] == 4
    assert r["IsTruncated"] is False


def test_list_v2_start_after(s3, bucket):
    put_keys(s3, bucket, KEYS5)
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="k2")
    assert [o["Key"] for o in r["Contents"]] == ["k3", "k4", "k5"]
    assert r["StartAfter"] == "k2"
    # start-after need not be an existing key
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="k22")
    assert [o["Key"] for o in r["Contents"]] == ["k3", "k4", "k5"]
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="k5")
    assert r["KeyCount"] == 0 and "Contents" not in r
    # with pagination
    keys, _, _ = all_v2(s3, bucket, StartAfter="k1", MaxKeys=1)
    assert keys == ["k2", "k3", "k4", "k5"]


def test_list_v1_marker(s3, bucket):
    put_keys(s3, bucket, KEYS5)
    r = s3.list_objects(Bucket=bucket, Marker="k3")
    assert [o["Key"] for o in r["Contents"]] == ["k4", "k5"]
    assert r["Marker"] == "k3"
    keys, _, pages = all_v1(s3, bucket, MaxKeys=2)
    assert keys == KEYS5
    assert [p["IsTruncated"] for p in pages] == [True, True, False]


def test_list_v1_exact_fit_not_truncated(s3, bucket):
    put_keys(s3, bucket, KEYS5)
    r = s3.list_objects(Bucket=bucket, MaxKeys=5)
    assert len(r["Contents"]) == 5
    assert r["IsTruncated"] is False


def test_list_v1_next_marker_with_delimiter(s3, bucket):
    put_keys(s3, bucket, ["a/1", "a/2", "b/1", "c", "d/1", "e"])
    r = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert r["IsTruncated"] is True
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["a/", "b/"]
    assert r["NextMarker"] == "b/"
    keys, prefixes, _ = all_v1(s3, bucket, Delimiter="/", MaxKeys=2)
    assert keys == ["c", "e"]
    assert prefixes == ["a/", "b/", "d/"]


# ---------------------------------------------------------------- prefix / delimiter


TREE = ["a/1", "a/2", "a/b/3", "b/1", "c", "d/e/f", "d/e/g", "d/h", "dz"]


def test_prefix(s3, bucket):
    put_keys(s3, bucket, TREE)
    r = s3.list_objects_v2(Bucket=bucket, Prefix="d")
    assert [o["Key"] for o in r["Contents"]] == ["d/e/f", "d/e/g", "d/h", "dz"]
    assert r["Prefix"] == "d"
    r = s3.list_objects_v2(Bucket=bucket, Prefix="nothing")
    assert r["KeyCount"] == 0


def test_delimiter_common_prefixes(s3, bucket):
    put_keys(s3, bucket, TREE)
    for lister in (s3.list_objects_v2, s3.list_objects):
        r = lister(Bucket=bucket, Delimiter="/")
        assert [o["Key"] for o in r["Contents"]] == ["c", "dz"]
        assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/", "d/"]
        assert r["Delimiter"] == "/"
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert r["KeyCount"] == 5


def test_prefix_and_delimiter(s3, bucket):
    put_keys(s3, bucket, TREE)
    r = s3.list_objects_v2(Bucket=bucket, Prefix="d/", Delimiter="/")
    assert [o["Key"] for o in r.get("Contents", [])] == ["d/h"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["d/e/"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"]


def test_non_slash_delimiter(s3, bucket):
    put_keys(s3, bucket, ["x-1-a", "x-1-b", "x-2", "y"])
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="-")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["x-"]
    assert [o["Key"] for o in r["Contents"]] == ["y"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="x-", Delimiter="-")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["x-1-"]
    assert [o["Key"] for o in r["Contents"]] == ["x-2"]


def test_delimiter_pagination_counts_prefixes(s3, bucket):
    put_keys(s3, bucket, TREE)
    keys, prefixes, pages = all_v2(s3, bucket, Delimiter="/", MaxKeys=1)
    assert keys == ["c", "dz"]
    assert prefixes == ["a/", "b/", "d/"]
    assert len(pages) == 5
    assert all(p["KeyCount"] == 1 for p in pages)
    keys, prefixes, pages = all_v2(s3, bucket, Delimiter="/", MaxKeys=2)
    assert keys == ["c", "dz"] and prefixes == ["a/", "b/", "d/"]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]


def test_key_ending_with_delimiter_is_a_prefix(s3, bucket):
    put_keys(s3, bucket, ["folder/", "folder/x", "top"])
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["folder/"]
    assert [o["Key"] for o in r["Contents"]] == ["top"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="folder/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["folder/", "folder/x"]
    assert "CommonPrefixes" not in r


# ---------------------------------------------------------------- max-keys


def test_default_max_keys_is_1000(s3, bucket):
    keys = [f"obj{i:05d}" for i in range(1001)]
    put_keys(s3, bucket, keys, body=b"")
    r = s3.list_objects_v2(Bucket=bucket)
    assert r["MaxKeys"] == 1000
    assert r["KeyCount"] == 1000
    assert r["IsTruncated"] is True
    assert [o["Key"] for o in r["Contents"]] == keys[:1000]
    r2 = s3.list_objects_v2(Bucket=bucket, ContinuationToken=r["NextContinuationToken"])
    assert [o["Key"] for o in r2["Contents"]] == keys[1000:]
    assert r2["IsTruncated"] is False
    v1 = s3.list_objects(Bucket=bucket)
    assert v1["MaxKeys"] == 1000
    assert len(v1["Contents"]) == 1000
    assert v1["IsTruncated"] is True
    # max-keys above 1000 is capped at 1000 items per page
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert r["KeyCount"] == 1000
    assert r["IsTruncated"] is True


def test_max_keys_zero(s3, bucket):
    put_keys(s3, bucket, ["a"])
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert r["KeyCount"] == 0
    assert "Contents" not in r


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_invalid_max_keys(raw, bucket, value):
    r = raw.get(f"/{bucket}", params={"list-type": "2", "max-keys": value})
    assert_raw_error(r, "InvalidArgument", 400)


# ---------------------------------------------------------------- ordering / encoding


ORDER_KEYS = [
    "A",
    "B",
    "a",
    "b",
    "a b",
    "a+b",
    "a-b",
    "a/b",
    "a~b",
    "Z",
    "é",
    "ö",
    "中文",
    "\uff21",  # FULLWIDTH A: EF BC A1
    "\U0001f600",  # emoji: F0 9F 98 80 (sorts after U+FF21 in UTF-8, before it in UTF-16)
    "\u00ff",
    "0",
    "~",
]


def test_keys_in_utf8_binary_order(s3, bucket):
    put_keys(s3, bucket, ORDER_KEYS)
    expected = sorted(ORDER_KEYS, key=lambda k: k.encode("utf-8"))
    keys, _, _ = all_v2(s3, bucket)
    assert keys == expected
    keys, _, _ = all_v2(s3, bucket, MaxKeys=3)
    assert keys == expected
    keys, _, _ = all_v1(s3, bucket, MaxKeys=4)
    assert keys == expected


def test_encoding_type_url_v2(raw, s3, bucket):
    keys = ["dir é/a b+c%d&e<f>.txt", "plain"]
    put_keys(s3, bucket, keys)
    r = raw.get(
        f"/{bucket}",
        params={"list-type": "2", "encoding-type": "url", "prefix": "dir é/", "start-after": "dir é/"},
    )
    assert r.status == 200, r
    root = r.xml()
    assert root.findtext("EncodingType") == "url"
    raw_keys = [e.text for e in root.findall("Contents/Key")]
    assert len(raw_keys) == 1
    k = raw_keys[0]
    assert unquote_plus(k) == keys[0]
    # '+' may encode a space, but a literal '+' must be encoded (else it decodes to a space)
    assert all(ord(ch) < 128 for ch in k) and " " not in k and "&" not in k and "<" not in k, k
    # the echoed Prefix / StartAfter are encoded as well
    assert unquote_plus(root.findtext("Prefix")) == "dir é/"
    assert " " not in root.findtext("Prefix") and "é" not in root.findtext("Prefix")
    assert unquote_plus(root.findtext("StartAfter")) == "dir é/"


def test_encoding_type_url_v1_with_delimiter(raw, s3, bucket):
    put_keys(s3, bucket, ["sp ace/x", "ü/y", "top é"])
    r = raw.get(f"/{bucket}", params={"encoding-type": "url", "delimiter": "/"})
    assert r.status == 200, r
    root = r.xml()
    assert root.findtext("EncodingType") == "url"
    prefixes = [e.text for e in root.findall("CommonPrefixes/Prefix")]
    assert [unquote_plus(p) for p in prefixes] == ["sp ace/", "ü/"]
    assert all(" " not in p and all(ord(c) < 128 for c in p) for p in prefixes)
    keys = [e.text for e in root.findall("Contents/Key")]
    assert [unquote_plus(k) for k in keys] == ["top é"]


def test_no_encoding_type_returns_literal_keys(raw, s3, bucket):
    key = "lit é & <x> \"q\" 'a'"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    r = raw.get(f"/{bucket}", params={"list-type": "2"})
    root = r.xml()
    assert root.find("EncodingType") is None
    assert [e.text for e in root.findall("Contents/Key")] == [key]


def test_boto3_roundtrips_special_keys_in_listing(s3, bucket):
    keys = ["with space", "plus+plus", "percent%25", "amp&er", "tab\tkey", "ctl\x01char", "nl\nkey", "uni ☃ ünï"]
    put_keys(s3, bucket, keys)
    listed, _, _ = all_v2(s3, bucket)
    assert listed == sorted(keys, key=lambda k: k.encode())
    listed1, _, _ = all_v1(s3, bucket)
    assert listed1 == listed


# ---------------------------------------------------------------- IsTruncated edge cases


def test_is_truncated_false_when_rest_rolls_into_returned_prefix(s3, bucket):
    # page holds "a" and "b/"; the keys left (b/2, b/3) all belong to the
    # prefix already returned, so there is nothing more to list.
    put_keys(s3, bucket, ["a", "b/1", "b/2", "b/3"])
    for lister in (s3.list_objects_v2, s3.list_objects):
        r = lister(Bucket=bucket, Delimiter="/", MaxKeys=2)
        assert [o["Key"] for o in r.get("Contents", [])] == ["a"]
        assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"]
        assert r["IsTruncated"] is False, f"{lister.__name__}: nothing is left after b/"


def test_is_truncated_false_when_rest_is_outside_prefix(s3, bucket):
    put_keys(s3, bucket, ["p/1", "p/2", "q", "r"])
    r = s3.list_objects_v2(Bucket=bucket, Prefix="p/", MaxKeys=2)
    assert [o["Key"] for o in r["Contents"]] == ["p/1", "p/2"]
    assert r["IsTruncated"] is False
    r = s3.list_objects(Bucket=bucket, Prefix="p/", MaxKeys=2)
    assert r["IsTruncated"] is False


def test_is_truncated_true_when_next_item_is_a_prefix(s3, bucket):
    put_keys(s3, bucket, ["a", "b", "c/1"])
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert [o["Key"] for o in r["Contents"]] == ["a", "b"]
    assert r["IsTruncated"] is True
    r2 = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2, ContinuationToken=r["NextContinuationToken"])
    assert [p["Prefix"] for p in r2["CommonPrefixes"]] == ["c/"]
    assert "Contents" not in r2
    assert r2["IsTruncated"] is False


def test_prefix_with_special_characters(s3, bucket):
    keys = ["sp ace/1", "sp ace/2", "sp+ace/3", "ünï/4"]
    put_keys(s3, bucket, keys)
    r = s3.list_objects_v2(Bucket=bucket, Prefix="sp ace/")
    assert [o["Key"] for o in r["Contents"]] == ["sp ace/1", "sp ace/2"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="sp+ace/")
    assert [o["Key"] for o in r["Contents"]] == ["sp+ace/3"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="ünï/")
    assert [o["Key"] for o in r["Contents"]] == ["ünï/4"]


def test_invalid_encoding_type(raw, bucket):
    r = raw.get(f"/{bucket}", params={"list-type": "2", "encoding-type": "base64"})
    assert_raw_error(r, "InvalidArgument", 400)


# Keys XML 1.0 cannot carry (control characters) and characters URL encoding must
# escape; a common prefix ("d\x01 %+/") among them.
AWKWARD_KEYS = ["d\x01 %+/x", "d\x01a+b c%", "d\x01\u00fc\x1fk"]
LIST_OPS = {
    "v1": {"marker": "d\x01", "max-keys": "2"},
    "v2": {"list-type": "2", "start-after": "d\x01", "max-keys": "2"},
    "versions": {"versions": None, "key-marker": "d\x01", "max-keys": "2"},
    "uploads": {"uploads": None, "key-marker": "d\x01", "max-uploads": "2"},
}
ENCODED_TAGS = {"Key", "Prefix", "Delimiter", "Marker", "NextMarker", "StartAfter", "KeyMarker", "NextKeyMarker"}


@pytest.mark.parametrize("op", LIST_OPS)
def test_encoding_type_url_on_every_list_operation(s3, raw, bucket, op):
    for k in AWKWARD_KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
        s3.create_multipart_upload(Bucket=bucket, Key=k)
    r = raw.get(f"/{bucket}", params={**LIST_OPS[op], "encoding-type": "url", "prefix": "d\x01", "delimiter": "/"})
    assert r.status == 200, r
    root = r.xml()  # parses: no raw control character in the document
    assert root.findtext("EncodingType") == "url"
    texts = {}
    for el in root.iter():
        if el.tag in ENCODED_TAGS and el.text:
            # only unreserved characters, '/' and escapes: nothing XML or a URL would mangle
            assert re.fullmatch(r"[A-Za-z0-9._~/%-]*", el.text), (el.tag, el.text)
            texts.setdefault(el.tag, []).append(unquote(el.text))
    assert texts["Prefix"][0] == "d\x01" and texts["Delimiter"] == ["/"], texts
    assert "d\x01 %+/" in texts["Prefix"][1:], texts  # the common prefix
    assert texts["Key"] == ["d\x01a+b c%"], texts  # the next key, after the common prefix
    markers = texts.get("Marker", []) + texts.get("StartAfter", []) + texts.get("KeyMarker", [])
    assert markers == ["d\x01"], texts
    if op != "v2":
        assert texts.get("NextMarker", texts.get("NextKeyMarker")) == ["d\x01a+b c%"], texts


@pytest.mark.parametrize("op", LIST_OPS)
def test_bad_encoding_type_on_every_list_operation(raw, bucket, op):
    r = raw.get(f"/{bucket}", params={**LIST_OPS[op], "encoding-type": "gzip"})
    err = assert_raw_error(r, "InvalidArgument", 400)
    assert err.get("ArgumentName") == "encoding-type"


def test_multi_character_delimiter(s3, bucket):
    put_keys(s3, bucket, ["xabyabz", "xabq", "r", "yab"])
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="ab")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["xab", "yab"]
    assert [o["Key"] for o in r["Contents"]] == ["r"]
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="ab", Prefix="xab")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["xabyab"]
    assert [o["Key"] for o in r["Contents"]] == ["xabq"]


def test_continuation_token_takes_precedence_over_start_after(s3, bucket):
    put_keys(s3, bucket, KEYS5)
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="k1", MaxKeys=2)
    assert [o["Key"] for o in r["Contents"]] == ["k2", "k3"]
    r2 = s3.list_objects_v2(Bucket=bucket, StartAfter="k1", MaxKeys=2, ContinuationToken=r["NextContinuationToken"])
    assert [o["Key"] for o in r2["Contents"]] == ["k4", "k5"]
    assert r2["IsTruncated"] is False


def test_invalid_continuation_token(raw, bucket):
    r = raw.get(f"/{bucket}", params={"list-type": "2", "continuation-token": "definitely-not-a-token"})
    assert_raw_error(r, "InvalidArgument", 400)


def test_listing_last_modified_matches_head(s3, bucket):
    s3.put_object(Bucket=bucket, Key="lm", Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"]
    head = s3.head_object(Bucket=bucket, Key="lm")["LastModified"]
    assert listed.replace(microsecond=0) == head, (listed, head)
    assert s3.list_objects(Bucket=bucket)["Contents"][0]["LastModified"].replace(microsecond=0) == head


def test_encoding_type_url_encodes_markers_and_delimiter(raw, s3, bucket):
    put_keys(s3, bucket, ["é 1", "é 2", "é 3"])
    r = raw.get(f"/{bucket}", params={"encoding-type": "url", "delimiter": "é", "max-keys": "1", "marker": "0 é"})
    root = r.xml()
    # the delimiter "é" rolls everything into one prefix "é"
    assert [unquote_plus(p.text) for p in root.findall("CommonPrefixes/Prefix")] == ["é"]
    assert unquote_plus(root.findtext("Delimiter")) == "é" and "é" not in root.findtext("Delimiter")
    assert unquote_plus(root.findtext("Marker")) == "0 é" and "é" not in root.findtext("Marker")
    r = raw.get(f"/{bucket}", params={"encoding-type": "url", "delimiter": "/", "max-keys": "1"})
    root = r.xml()
    assert root.findtext("IsTruncated") == "true"
    nm = root.findtext("NextMarker")
    assert unquote_plus(nm) == "é 1" and "é" not in nm and " " not in nm


# ---------------------------------------------------------------- model-based


def model_list(keys, prefix, delimiter):
    """Reference ListObjects result (no marker): [("K", key) | ("P", prefix)]."""
    out = []
    for k in sorted(keys, key=lambda s: s.encode()):
        if not k.startswith(prefix):
            continue
        if delimiter:
            i = k.find(delimiter, len(prefix))
            if i >= 0:
                cp = k[: i + len(delimiter)]
                if not out or out[-1] != ("P", cp):
                    out.append(("P", cp))
                continue
        out.append(("K", k))
    return out


def engine_list_v2(s3, bucket, prefix, delimiter, max_keys):
    out, token = [], None
    for _ in range(1000):
        kw = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            kw["Delimiter"] = delimiter
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        page = [("K", o["Key"]) for o in r.get("Contents", [])] + [("P", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
        out += sorted(page, key=lambda t: t[1].encode())
        if not r["IsTruncated"]:
            return out
        token = r["NextContinuationToken"]
    raise AssertionError("listing did not terminate")


def engine_list_v1(s3, bucket, prefix, delimiter, max_keys):
    out, marker = [], None
    for _ in range(1000):
        kw = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            kw["Delimiter"] = delimiter
        if marker is not None:
            kw["Marker"] = marker
        r = s3.list_objects(**kw)
        page = [("K", o["Key"]) for o in r.get("Contents", [])] + [("P", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
        page.sort(key=lambda t: t[1].encode())
        out += page
        if not r["IsTruncated"]:
            return out
        marker = r.get("NextMarker") or page[-1][1]
    raise AssertionError("listing did not terminate")


def test_listing_matches_reference_model(s3, bucket):
    import random

    rnd = random.Random(20261125)
    atoms = ["a", "b", "é", "中", "y" * 150, "y" * 199, "y" * 200, "y" * 201, "y" * 260, "", ".", "..", "a b", "z~"]
    keys = set()
    while len(keys) < 120:
        n = rnd.randint(1, 4)
        k = "/".join(rnd.choice(atoms) for _ in range(n))
        if k and len(k.encode()) <= 1024:
            keys.add(k)
    put_keys(s3, bucket, sorted(keys))
    prefixes = {"", "a", "a/", "/", "y" * 150, "y" * 199, "y" * 200, "y" * 201, "y" * 200 + "/", "é", "a//", "../"}
    sk = sorted(keys)
    for _ in range(12):
        k = rnd.choice(sk)
        prefixes.add(k[: rnd.randint(0, len(k))])
    mismatches = []
    for prefix in sorted(prefixes):
        for delimiter in (None, "/", "y"):
            want = model_list(keys, prefix, delimiter)
            for lister in (engine_list_v2, engine_list_v1):
                for max_keys in (1000, 7):
                    got = lister(s3, bucket, prefix, delimiter, max_keys)
                    if got != want:
                        mismatches.append(
                            (lister.__name__, prefix[:30] + f"..len{len(prefix)}", delimiter, max_keys, got[:4], want[:4])
                        )
    assert not mismatches, f"{len(mismatches)} listing mismatches, first: {mismatches[:3]}"


# ------------------------------------------------- big folders (sorted-folder cache)

BIG = 4600  # above the engine's threshold (4096 entries) for caching a folder's order


def big_folder_keys():
    """Flat keys plus the awkward neighbours a big folder can hold: long names split
    into continuation folders, sub-folders, and names that sort around them."""
    keys = {f"flat/k{i:05d}" for i in range(0, 2 * BIG, 2)}
    keys |= {"flat/" + "y" * 200, "flat/" + "y" * 201, "flat/" + "y" * 200 + "/z", "flat/" + "y" * 260 + "q"}
    keys |= {"flat/k02000/sub", "flat/k02000/sub/deeper", "flat/j", "flat/l", "flat/é", "flat/k04000x", "top"}
    return keys


def test_big_folder_listing_matches_model_and_follows_changes(s3, bucket):
    """A folder of thousands of keys is served from a cached sorted order between pages:
    every prefix, marker and delimiter must still give exactly what a fresh sort gives,
    and a key written or deleted between two pages must show up or vanish as AWS's
    (strongly consistent) listing would."""
    keys = big_folder_keys()
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), sorted(keys)))
    mismatches = []
    for prefix in ["", "flat/", "flat/k0", "flat/k0450", "flat/k02000", "flat/k02000/", "flat/y", "flat/" + "y" * 200, "flat/z", "fla"]:
        for delimiter in (None, "/"):
            want = model_list(keys, prefix, delimiter)
            got = engine_list_v2(s3, bucket, prefix, delimiter, 1000)
            if got != want:
                mismatches.append((prefix[:40], delimiter, len(got), len(want), [g for g in got if g not in want][:3], [w for w in want if w not in got][:3]))
    assert not mismatches, mismatches[:3]
    for after in ["flat/k04001", "flat/k02000", "flat/k02000/sub", "flat/" + "y" * 199, "flat/" + "y" * 200, "flat/k09999", "a", "zzz"]:
        r = s3.list_objects_v2(Bucket=bucket, StartAfter=after, MaxKeys=3)
        want = [k for k in sorted(keys, key=str.encode) if k.encode() > after.encode()][:3]
        assert [o["Key"] for o in r.get("Contents", [])] == want, after
        r1 = s3.list_objects(Bucket=bucket, Marker=after, MaxKeys=3)
        assert [o["Key"] for o in r1.get("Contents", [])] == want, after

    # Changes between pages: the listing continues from the marker on the new state.
    first = s3.list_objects_v2(Bucket=bucket, Prefix="flat/", MaxKeys=1000)
    assert first["IsTruncated"]
    last_seen = first["Contents"][-1]["Key"]
    s3.put_object(Bucket=bucket, Key="flat/k00001", Body=b"")  # before the marker: not in the rest
    s3.put_object(Bucket=bucket, Key="flat/k07777", Body=b"")  # after it: must appear
    s3.delete_object(Bucket=bucket, Key="flat/k08000")  # after it: must not appear
    s3.delete_object(Bucket=bucket, Key="flat/k02000/sub/deeper")  # drains a sub-folder
    rest, token = [], first["NextContinuationToken"]
    while token:
        r = s3.list_objects_v2(Bucket=bucket, Prefix="flat/", MaxKeys=1000, ContinuationToken=token)
        rest += [o["Key"] for o in r.get("Contents", [])]
        token = r.get("NextContinuationToken")
    keys |= {"flat/k00001", "flat/k07777"}
    keys -= {"flat/k08000", "flat/k02000/sub/deeper"}
    want_rest = [k for k in sorted(keys, key=str.encode) if k.startswith("flat/") and k.encode() > last_seen.encode()]
    assert rest == want_rest, ([k for k in rest if k not in want_rest][:3], [k for k in want_rest if k not in rest][:3])
    assert engine_list_v2(s3, bucket, "", None, 1000) == model_list(keys, "", None)
