"""Bucket default encryption configuration: PutBucketEncryption, GetBucketEncryption,
DeleteBucketEncryption (the configuration API only; what it does to new objects is
tested with object encryption).

Expected behaviour follows AWS's S3 API reference and captures of AWS's answers:
  * PutBucketEncryption -> 200, GetBucketEncryption -> the one rule back (with
    BucketKeyEnabled), DeleteBucketEncryption -> 204 (also when there is none)
  * GetBucketEncryption without a configuration -> 404
    ServerSideEncryptionConfigurationNotFoundError
  * no rule, two rules, no ApplyServerSideEncryptionByDefault, an SSEAlgorithm
    other than AES256 / aws:kms / aws:kms:dsse, XML that does not parse -> 400
    MalformedXML; AES256 with a KMSMasterKeyID -> 400 InvalidArgument
  * a missing bucket -> 404 NoSuchBucket (before the document is judged)
  * anonymous requests -> 403 AccessDenied

The module runs its own auth-enabled engine, so unsigned requests are anonymous.
"""

from __future__ import annotations

import json
import os

import pytest

from helpers import (
    REGION,
    assert_raw_error,
    auth_server_fixture,
    expect_error,
    md5_b64,
    started_server,
    strip_ns,
    unique_bucket_name,
)

import xml.etree.ElementTree as ET

ACCESS_KEY = "AKIAENCRYPTIONTEST01"
SECRET_KEY = "encryption/test/secret/key/0000000000000"

server = auth_server_fixture(ACCESS_KEY, SECRET_KEY, REGION, why="starts an auth-enabled engine")

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def config(algorithm: str, key: str | None = None, bucket_key: bool | None = None) -> dict:
    by_default = {"SSEAlgorithm": algorithm}
    if key is not None:
        by_default["KMSMasterKeyID"] = key
    rule = {"ApplyServerSideEncryptionByDefault": by_default}
    if bucket_key is not None:
        rule["BucketKeyEnabled"] = bucket_key
    return {"Rules": [rule]}


def xml_doc(inner: str) -> bytes:
    return f'<ServerSideEncryptionConfiguration xmlns="{NS}">{inner}</ServerSideEncryptionConfiguration>'.encode()


def rule_xml(algorithm: str, extra: str = "") -> str:
    return (
        f"<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm>{extra}"
        "</ApplyServerSideEncryptionByDefault></Rule>"
    )


def put_raw(raw, bucket: str, body: bytes, md5: str | None = None):
    headers = {"Content-Type": "application/xml", "Content-MD5": md5 if md5 is not None else md5_b64(body)}
    return raw.put(f"/{bucket}", params={"encryption": None}, data=body, headers=headers)


def test_aes256_put_get_delete(s3, bucket):
    r = s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config("AES256"))
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = s3.get_bucket_encryption(Bucket=bucket)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    rules = got["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]
    r = s3.delete_bucket_encryption(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lambda: s3.get_bucket_encryption(Bucket=bucket), "ServerSideEncryptionConfigurationNotFoundError", 404)
    # Deleting again is fine, as on AWS.
    assert s3.delete_bucket_encryption(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_not_found_document(raw, bucket):
    r = raw.get(f"/{bucket}", params={"encryption": None})
    err = assert_raw_error(r, "ServerSideEncryptionConfigurationNotFoundError", 404)
    assert err["Message"] == "The server side encryption configuration was not found"
    assert err.get("BucketName") == bucket


def test_kms_with_key_and_bucket_key(s3, bucket):
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config("aws:kms", KMS_KEY, True))
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY}
    assert rule["BucketKeyEnabled"] is True
    # A second Put replaces the first.
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config("aws:kms:dsse", bucket_key=False))
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms:dsse"}
    assert rule["BucketKeyEnabled"] is False
    # and new objects that ask for nothing are DSSE-KMS
    assert s3.put_object(Bucket=bucket, Key="d", Body=b"d")["ServerSideEncryption"] == "aws:kms:dsse"
    assert s3.head_object(Bucket=bucket, Key="d")["ServerSideEncryption"] == "aws:kms:dsse"


def test_kms_without_key(s3, bucket):
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config("aws:kms"))
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}


def test_get_document_shape(raw, s3, bucket):
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config("aws:kms", KMS_KEY, True))
    r = raw.get(f"/{bucket}", params={"encryption": None})
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("application/xml")
    assert ET.fromstring(r.content).tag == f"{{{NS}}}ServerSideEncryptionConfiguration"
    root = strip_ns(ET.fromstring(r.content))
    assert [c.tag for c in root] == ["Rule"]
    rule = root.find("Rule")
    assert [c.tag for c in rule] == ["ApplyServerSideEncryptionByDefault", "BucketKeyEnabled"]
    assert rule.findtext("ApplyServerSideEncryptionByDefault/SSEAlgorithm") == "aws:kms"
    assert rule.findtext("ApplyServerSideEncryptionByDefault/KMSMasterKeyID") == KMS_KEY
    assert rule.findtext("BucketKeyEnabled") == "true"


def test_bad_algorithm_is_malformed_xml(s3, bucket):
    expect_error(
        lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config("DES")),
        "MalformedXML",
        400,
    )
    expect_error(lambda: s3.get_bucket_encryption(Bucket=bucket), "ServerSideEncryptionConfigurationNotFoundError", 404)


def test_kms_key_with_aes256_is_invalid_argument(s3, raw, bucket):
    resp = expect_error(
        lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config("AES256", KMS_KEY)),
        "InvalidArgument",
        400,
    )
    assert "KMSMasterKeyID is not applicable" in resp["Error"]["Message"]
    r = put_raw(raw, bucket, xml_doc(rule_xml("AES256", "<KMSMasterKeyID>k</KMSMasterKeyID>")))
    err = assert_raw_error(r, "InvalidArgument", 400)
    assert err.get("ArgumentName") == "ApplyServerSideEncryptionByDefault"


@pytest.mark.parametrize(
    "body",
    [
        b"<ServerSideEncryptionConfiguration><Rule>",
        b"not xml at all",
        b"",
        xml_doc(""),
        xml_doc("<Rule></Rule>"),
        xml_doc("<Rule><ApplyServerSideEncryptionByDefault></ApplyServerSideEncryptionByDefault></Rule>"),
        xml_doc(rule_xml("AES256") * 2),
        xml_doc(rule_xml("aes256")),
        xml_doc(rule_xml("AES256").replace("</Rule>", "<BucketKeyEnabled>yes</BucketKeyEnabled></Rule>")),
        b"<CORSConfiguration>" + rule_xml("AES256").encode() + b"</CORSConfiguration>",
    ],
    ids=["unclosed", "text", "empty", "no-rule", "empty-rule", "no-algorithm", "two-rules", "lowercase", "bucket-key-yes", "other-root"],
)
def test_malformed_xml(raw, s3, bucket, body):
    assert_raw_error(put_raw(raw, bucket, body), "MalformedXML", 400)
    expect_error(lambda: s3.get_bucket_encryption(Bucket=bucket), "ServerSideEncryptionConfigurationNotFoundError", 404)


def test_raw_document_without_namespace(raw, s3, bucket):
    body = b"<ServerSideEncryptionConfiguration>" + rule_xml("AES256").encode() + b"</ServerSideEncryptionConfiguration>"
    r = put_raw(raw, bucket, body)
    assert r.status == 200, r
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}


def test_content_md5_mismatch(raw, s3, bucket):
    body = xml_doc(rule_xml("AES256"))
    assert_raw_error(put_raw(raw, bucket, body, md5=md5_b64(b"other")), "BadDigest", 400)
    assert_raw_error(put_raw(raw, bucket, body, md5="not-base64!"), "InvalidDigest", 400)
    expect_error(lambda: s3.get_bucket_encryption(Bucket=bucket), "ServerSideEncryptionConfigurationNotFoundError", 404)


def test_missing_bucket(s3, raw):
    name = unique_bucket_name("enc-missing")
    expect_error(
        lambda: s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=config("AES256")),
        "NoSuchBucket",
        404,
    )
    expect_error(lambda: s3.get_bucket_encryption(Bucket=name), "NoSuchBucket", 404)
    expect_error(lambda: s3.delete_bucket_encryption(Bucket=name), "NoSuchBucket", 404)
    # The bucket's existence is checked before the document.
    assert_raw_error(put_raw(raw, name, b"<nonsense"), "NoSuchBucket", 404)


def test_anonymous_is_refused(raw, s3, bucket):
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=config("AES256"))
    body = xml_doc(rule_xml("aws:kms"))
    r = raw.request("PUT", f"/{bucket}", params={"encryption": None}, data=body, sign=False, headers={"Content-MD5": md5_b64(body)})
    assert_raw_error(r, "AccessDenied", 403)
    assert_raw_error(raw.request("GET", f"/{bucket}", params={"encryption": None}, sign=False), "AccessDenied", 403)
    assert_raw_error(raw.request("DELETE", f"/{bucket}", params={"encryption": None}, sign=False), "AccessDenied", 403)
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_wrong_credentials_are_refused(server, bucket):
    from helpers import make_client

    other = make_client(server.endpoint, REGION, access_key=ACCESS_KEY, secret_key="wrong" + SECRET_KEY[5:])
    expect_error(lambda: other.get_bucket_encryption(Bucket=bucket), "SignatureDoesNotMatch", 403)


def test_deleting_the_bucket_removes_it(s3, make_bucket):
    name = make_bucket()
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=config("aws:kms", KMS_KEY))
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    expect_error(lambda: s3.get_bucket_encryption(Bucket=name), "ServerSideEncryptionConfigurationNotFoundError", 404)


def test_kept_across_restart_as_json():
    ak, sk = "AKIAENCRYPTIONTEST02", "encryption/restart/secret/key/000000000"
    with started_server(REGION, access_key=ak, secret_key=sk) as srv:  # skips under SMARTSTORAGE_TEST_ENDPOINT
        c = srv.client()
        b = unique_bucket_name("enc-restart")
        c.create_bucket(Bucket=b)
        c.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration=config("aws:kms", KMS_KEY, True))
        if not srv.drives:
            # Stored storage-neutral, not as the request's XML.
            stored = json.loads((srv.directory / ".encryption" / f"{b}.encryption.json").read_text())
            assert stored == {"algorithm": "aws:kms", "kmsKeyId": KMS_KEY, "bucketKeyEnabled": True}
        srv.restart()
        c = srv.client()
        rule = c.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY}
        assert rule["BucketKeyEnabled"] is True
        c.delete_bucket_encryption(Bucket=b)
        if not srv.drives:
            assert not os.path.exists(srv.directory / ".encryption" / f"{b}.encryption.json")
