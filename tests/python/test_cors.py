"""Bucket CORS: configuration API, preflight (OPTIONS) answers and the
Access-Control-* headers of actual requests.

Expected behaviour follows AWS's S3 API reference (PutBucketCors, GetBucketCors,
DeleteBucketCors, "Appendix: OPTIONS object") and the CORS user guide:
  * PutBucketCors -> 200, GetBucketCors -> the rules, DeleteBucketCors -> 204,
    GetBucketCors without a configuration -> 404 NoSuchCORSConfiguration
  * an AllowedMethod other than GET/PUT/POST/DELETE/HEAD -> 400 InvalidRequest,
    XML that is not a valid CORSConfiguration -> 400 MalformedXML
  * preflight: a matching rule -> 200 with Access-Control-Allow-Origin/-Methods/
    -Headers/-Max-Age; no matching rule, or no CORS on the bucket -> 403
    (AccessForbidden); no Origin header -> 400
  * actual requests with a matching Origin get Access-Control-Allow-Origin,
    Access-Control-Expose-Headers and Vary: Origin; without Origin, no CORS headers

Most tests use the module's auth-off engine (conftest's `server`); one starts
an auth-enabled engine to check that preflights need no signature.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import requests

from helpers import (
    REGION,
    RawResponse,
    assert_raw_error,
    expect_error,
    md5_b64,
    parse_error,
    started_server,
    unique_bucket_name,
)

TIMEOUT = 60

APP = "https://app.example.com"

RULES = [
    {
        "ID": "app",
        "AllowedOrigins": [APP, "http://localhost:8080"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 600,
    },
    {
        "ID": "subdomains",
        "AllowedOrigins": ["https://*.example.com"],
        "AllowedMethods": ["GET", "HEAD"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 60,
    },
]


@pytest.fixture
def cors_bucket(s3, bucket):
    r = s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.put_object(Bucket=bucket, Key="obj.txt", Body=b"cors body")
    return bucket


def preflight(server, path, origin=None, method=None, headers=None) -> requests.Response:
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if method is not None:
        h["Access-Control-Request-Method"] = method
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return requests.options(server.endpoint + path, headers=h, timeout=TIMEOUT)


def csv(value) -> list:
    return [v.strip().lower() for v in (value or "").split(",") if v.strip()]


def cors_headers(resp) -> dict:
    return {k.lower(): v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}


def assert_preflight_forbidden(resp):
    assert resp.status_code == 403, f"expected 403, got {resp.status_code}: {resp.content[:400]!r}"
    assert "access-control-allow-origin" not in cors_headers(resp), resp.headers
    if resp.content:
        assert parse_error(resp.content)["Code"] == "AccessForbidden", resp.content[:400]


# =========================================================================
# configuration API
# =========================================================================


def test_put_get_delete_cors_round_trip(s3, bucket):
    r = s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200

    got = s3.get_bucket_cors(Bucket=bucket)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    rules = got["CORSRules"]
    assert len(rules) == 2
    for want, have in zip(RULES, rules):
        for field in ("ID", "AllowedOrigins", "AllowedMethods", "ExposeHeaders", "MaxAgeSeconds"):
            assert have.get(field) == want.get(field), (field, have)
        assert have.get("AllowedHeaders", []) == want.get("AllowedHeaders", [])

    # a second Put replaces the whole configuration
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]},
    )
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [(r["AllowedOrigins"], r["AllowedMethods"]) for r in rules] == [(["*"], ["GET"])]

    r = s3.delete_bucket_cors(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration", 404)


def test_get_cors_without_configuration_is_404(s3, bucket):
    expect_error(lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration", 404)


def test_cors_on_missing_bucket_is_nosuchbucket(s3):
    name = unique_bucket_name("missing-cors")
    expect_error(
        lambda: s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": RULES}), "NoSuchBucket", 404
    )
    expect_error(lambda: s3.get_bucket_cors(Bucket=name), "NoSuchBucket", 404)


def test_invalid_method_is_invalid_request(s3, bucket):
    bad = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PATCH"]}]}
    resp = expect_error(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=bad), "InvalidRequest", 400)
    assert "PATCH" in resp["Error"].get("Message", ""), resp["Error"]
    expect_error(lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration", 404)


MALFORMED = {
    "truncated": b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>",
    "not-xml": b"this is not xml",
    "no-rules": b"<CORSConfiguration></CORSConfiguration>",
    "rule-without-method": b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
    "rule-without-origin": b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_cors_is_malformed_xml(raw, s3, bucket, case):
    body = MALFORMED[case]
    r = raw.put(f"/{bucket}", params={"cors": None}, data=body, headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "MalformedXML", 400)
    expect_error(lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration", 404)


def test_malformed_cors_keeps_previous_configuration(raw, s3, cors_bucket):
    body = MALFORMED["truncated"]
    r = raw.put(f"/{cors_bucket}", params={"cors": None}, data=body, headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "MalformedXML", 400)
    assert len(s3.get_bucket_cors(Bucket=cors_bucket)["CORSRules"]) == 2


def test_cors_removed_with_bucket(s3, make_bucket):
    b = make_bucket("cors-recreate")
    s3.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": RULES})
    s3.delete_bucket(Bucket=b)
    s3.create_bucket(Bucket=b)
    expect_error(lambda: s3.get_bucket_cors(Bucket=b), "NoSuchCORSConfiguration", 404)


# =========================================================================
# preflight
# =========================================================================


def test_preflight_matching_rule(server, cors_bucket):
    r = preflight(server, f"/{cors_bucket}/obj.txt", APP, "PUT", "Content-Type, X-Amz-Meta-Owner")
    assert r.status_code == 200, r.content[:400]
    h = cors_headers(r)
    assert h.get("access-control-allow-origin") == APP, h
    assert set(csv(h.get("access-control-allow-methods"))) >= {"put"}, h
    assert set(csv(h.get("access-control-allow-methods"))) <= {"get", "put"}, h
    assert set(csv(h.get("access-control-allow-headers"))) == {"content-type", "x-amz-meta-owner"}, h
    assert h.get("access-control-max-age") == "600", h
    assert "origin" in csv(r.headers.get("Vary")), r.headers


def test_preflight_for_key_that_does_not_exist(server, cors_bucket):
    # a browser preflights an upload before the object exists
    r = preflight(server, f"/{cors_bucket}/not/yet/uploaded.bin", APP, "PUT", "content-type")
    assert r.status_code == 200, r.content[:400]
    assert r.headers.get("Access-Control-Allow-Origin") == APP


def test_preflight_non_matching_origin_is_403(server, cors_bucket):
    assert_preflight_forbidden(preflight(server, f"/{cors_bucket}/obj.txt", "https://evil.test", "GET"))


def test_preflight_non_matching_method_is_403(server, cors_bucket):
    assert_preflight_forbidden(preflight(server, f"/{cors_bucket}/obj.txt", APP, "DELETE"))


def test_preflight_non_matching_header_is_403(server, cors_bucket):
    assert_preflight_forbidden(preflight(server, f"/{cors_bucket}/obj.txt", APP, "PUT", "content-type, x-custom-header"))


def test_preflight_bucket_without_cors_is_403(server, bucket):
    r = preflight(server, f"/{bucket}/obj.txt", APP, "GET")
    assert_preflight_forbidden(r)


def test_preflight_without_origin_is_400(server, cors_bucket):
    r = preflight(server, f"/{cors_bucket}/obj.txt", None, "GET")
    assert r.status_code == 400, r.content[:400]
    assert not cors_headers(r), r.headers
    if r.content:
        assert parse_error(r.content)["Code"] == "BadRequest", r.content[:400]


def test_preflight_wildcard_origin(server, cors_bucket):
    path = f"/{cors_bucket}/obj.txt"
    r = preflight(server, path, "https://cdn.example.com", "GET")
    assert r.status_code == 200, r.content[:400]
    assert r.headers.get("Access-Control-Allow-Origin") == "https://cdn.example.com"
    assert r.headers.get("Access-Control-Max-Age") == "60"
    r = preflight(server, path, "https://a.b.example.com", "HEAD")
    assert r.status_code == 200 and r.headers.get("Access-Control-Allow-Origin") == "https://a.b.example.com"
    # the wildcard rule only allows GET/HEAD
    assert_preflight_forbidden(preflight(server, path, "https://cdn.example.com", "PUT"))
    # scheme and suffix must match
    for origin in ["http://cdn.example.com", "https://example.com", "https://cdn.example.com.evil.test", "https://evilexample.com"]:
        assert_preflight_forbidden(preflight(server, path, origin, "GET"))


def test_preflight_star_origin_answers_star(s3, server, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
    r = preflight(server, f"/{bucket}/k", "https://anything.test", "GET")
    assert r.status_code == 200, r.content[:400]
    assert r.headers.get("Access-Control-Allow-Origin") == "*"


def test_preflight_first_matching_rule_wins(server, cors_bucket):
    # APP matches both rules; the first one (MaxAge 600) answers
    r = preflight(server, f"/{cors_bucket}/obj.txt", APP, "GET")
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Max-Age") == "600"


# =========================================================================
# actual requests
# =========================================================================


def test_actual_get_with_origin_gets_cors_headers(server, cors_bucket):
    r = requests.get(f"{server.endpoint}/{cors_bucket}/obj.txt", headers={"Origin": APP}, timeout=TIMEOUT)
    assert (r.status_code, r.content) == (200, b"cors body")
    h = cors_headers(r)
    assert h.get("access-control-allow-origin") == APP, h
    assert set(csv(h.get("access-control-expose-headers"))) == {"etag", "x-amz-request-id"}, h
    assert "origin" in csv(r.headers.get("Vary")), r.headers
    assert r.headers.get("ETag")


def test_actual_get_with_wildcard_origin(server, cors_bucket):
    origin = "https://cdn.example.com"
    r = requests.get(f"{server.endpoint}/{cors_bucket}/obj.txt", headers={"Origin": origin}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Allow-Origin") == origin
    assert csv(r.headers.get("Access-Control-Expose-Headers")) == ["etag"]


def test_actual_get_without_origin_has_no_cors_headers(server, cors_bucket):
    r = requests.get(f"{server.endpoint}/{cors_bucket}/obj.txt", timeout=TIMEOUT)
    assert (r.status_code, r.content) == (200, b"cors body")
    assert not cors_headers(r), r.headers


def test_actual_get_with_non_matching_origin_has_no_cors_headers(server, cors_bucket):
    r = requests.get(f"{server.endpoint}/{cors_bucket}/obj.txt", headers={"Origin": "https://evil.test"}, timeout=TIMEOUT)
    assert (r.status_code, r.content) == (200, b"cors body")
    assert "access-control-allow-origin" not in cors_headers(r), r.headers


def test_actual_get_bucket_without_cors_has_no_cors_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    r = requests.get(f"{server.endpoint}/{bucket}/k", headers={"Origin": APP}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert not cors_headers(r), r.headers


def test_actual_put_with_origin_gets_cors_headers(server, s3, cors_bucket):
    r = requests.put(
        f"{server.endpoint}/{cors_bucket}/up.txt", data=b"uploaded", headers={"Origin": APP, "Content-Type": "text/plain"}, timeout=TIMEOUT
    )
    assert r.status_code == 200, r.content[:400]
    assert r.headers.get("Access-Control-Allow-Origin") == APP
    assert "etag" in csv(r.headers.get("Access-Control-Expose-Headers"))
    assert s3.get_object(Bucket=cors_bucket, Key="up.txt")["Body"].read() == b"uploaded"


def test_delete_cors_stops_preflight_and_headers(server, s3, cors_bucket):
    s3.delete_bucket_cors(Bucket=cors_bucket)
    assert_preflight_forbidden(preflight(server, f"/{cors_bucket}/obj.txt", APP, "GET"))
    r = requests.get(f"{server.endpoint}/{cors_bucket}/obj.txt", headers={"Origin": APP}, timeout=TIMEOUT)
    assert r.status_code == 200 and not cors_headers(r)


# =========================================================================
# auth on: preflights are never signed
# =========================================================================


def test_preflight_needs_no_signature_when_auth_is_on():
    ak, sk = "AKIDCORSAUTH", "cors/auth+secret/0123456789abcdefghij"
    with started_server(REGION, access_key=ak, secret_key=sk) as srv:  # skips under SMARTSTORAGE_TEST_ENDPOINT
        c = srv.client()
        b = unique_bucket_name("cors-auth")
        c.create_bucket(Bucket=b)
        c.put_bucket_cors(Bucket=b, CORSConfiguration={"CORSRules": RULES})
        r = preflight(srv, f"/{b}/obj.txt", APP, "PUT", "content-type")
        assert r.status_code == 200, r.content[:400]
        assert r.headers.get("Access-Control-Allow-Origin") == APP
        # CORS does not grant access: the unsigned GET itself is still denied
        c.put_object(Bucket=b, Key="obj.txt", Body=b"private")
        r = requests.get(f"{srv.endpoint}/{b}/obj.txt", headers={"Origin": APP}, timeout=TIMEOUT)
        assert_raw_error(RawResponse(r), "AccessDenied", 403)
        # the configuration API itself requires a signature
        r = requests.get(f"{srv.endpoint}/{b}?cors", timeout=TIMEOUT)
        assert_raw_error(RawResponse(r), "AccessDenied", 403)
