"""POST Object: browser-based uploads (multipart/form-data to a bucket URL), as AWS's
"POST Object", "Browser-based uploads using POST (AWS Signature Version 4)" and
"Creating a POST policy" describe them.

Forms come from boto3's generate_presigned_post (SigV4 with an s3v4 client, SigV2
with the default one) and are posted with `requests`; what was stored is read back
with boto3. The engine runs with auth on.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET

import pytest
import requests

from helpers import (
    Server,
    started_server,
    assert_absent,
    assert_error,
    auth_server_fixture,
    make_client,
    md5_hex,
    strip_ns,
    b64_crc32,
    tmp_files,
)

ACCESS_KEY = "AKIDPOSTOBJECT"
SECRET_KEY = "post/object+secret/KEY0123456789abcdef"
REGION = "us-east-1"
TIMEOUT = 60

server = auth_server_fixture(ACCESS_KEY, SECRET_KEY, REGION, why="POST Object tests start their own auth-enabled engine")


@pytest.fixture(scope="module")
def v4(server):
    return server.client(config={"signature_version": "s3v4"})


def post(url, fields, content=b"hello post", filename="hello.txt", after=None, **kw):
    """Posts `fields` (in order), then the file, then any `after` fields."""
    files = [(k, (None, v)) for k, v in fields.items()]
    files.append(("file", (filename, content, "application/octet-stream")))
    files += [(k, (None, v)) for k, v in (after or {}).items()]
    return requests.post(url, files=files, timeout=TIMEOUT, allow_redirects=False, **kw)


def presigned(client, bucket, key, fields=None, conditions=None, expires=300):
    p = client.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)
    return p["url"], dict(p["fields"])


def sign_v4_form(policy: dict | str, credential_date=None, secret=SECRET_KEY, access_key=ACCESS_KEY) -> dict:
    """The SigV4 form fields for a policy of our own (as the AWS example computes them)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    date = credential_date or now.strftime("%Y%m%d")
    text = policy if isinstance(policy, str) else base64.b64encode(json.dumps(policy).encode()).decode()
    key = ("AWS4" + secret).encode()
    for part in (date, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return {
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": f"{access_key}/{date}/{REGION}/s3/aws4_request",
        "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"),
        "policy": text,
        "x-amz-signature": hmac.new(key, text.encode(), hashlib.sha256).hexdigest(),
    }


def in_an_hour():
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def error_of(resp):
    root = ET.fromstring(resp.content)
    return {child.tag: child.text for child in root}


# -- success -----------------------------------------------------------------


def test_v4_form_stores_file_headers_metadata_and_tags(server, s3, v4, bucket):
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>blue sky</Value></Tag></TagSet></Tagging>"
    fields = {
        "Content-Type": "text/plain",
        "Cache-Control": "max-age=60",
        "Content-Disposition": 'attachment; filename="r.txt"',
        "Expires": "Thu, 01 Dec 2033 16:00:00 GMT",
        "x-amz-meta-owner": "ann",
        "tagging": tagging,
        "success_action_status": "201",
    }
    conditions = [{k: v} for k, v in fields.items()]
    url, form = presigned(v4, bucket, "docs/report.txt", fields, conditions)
    body = b"the report\n" * 100
    r = post(url, form, body)
    assert r.status_code == 201, r.text
    doc = strip_ns(ET.fromstring(r.content))
    assert doc.tag == "PostResponse"
    assert doc.findtext("Bucket") == bucket
    assert doc.findtext("Key") == "docs/report.txt"
    assert doc.findtext("ETag") == f'"{md5_hex(body)}"'
    assert doc.findtext("Location").endswith(f"/{bucket}/docs/report.txt")
    assert r.headers["ETag"] == f'"{md5_hex(body)}"'
    assert r.headers["Location"] == doc.findtext("Location")
    got = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="r.txt"'
    assert got["Metadata"] == {"owner": "ann"}
    assert got["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Thu, 01 Dec 2033 16:00:00 GMT"
    tags = s3.get_object_tagging(Bucket=bucket, Key="docs/report.txt")["TagSet"]
    assert tags == [{"Key": "team", "Value": "blue sky"}]


def test_filename_substitution_starts_with_and_default_204(v4, s3, bucket):
    url, form = presigned(v4, bucket, "uploads/${filename}", conditions=[["starts-with", "$key", "uploads/"]])
    r = post(url, form, b"png bytes", filename="cat.png")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers["Location"].endswith(f"/{bucket}/uploads/cat.png")
    assert s3.get_object(Bucket=bucket, Key="uploads/cat.png")["Body"].read() == b"png bytes"


def test_success_action_status_200_and_unknown_status(v4, s3, bucket):
    for status, expected in [("200", 200), ("404", 204)]:
        key = f"s{status}"
        url, form = presigned(
            v4, bucket, key, {"success_action_status": status}, [{"success_action_status": status}]
        )
        r = post(url, form)
        assert r.status_code == expected, r.text
        assert r.content == b""
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello post"


def test_success_action_redirect_is_303_with_bucket_key_etag(v4, bucket):
    target = "https://example.com/done?x=1"
    url, form = presigned(
        v4, bucket, "a b/c.txt", {"success_action_redirect": target}, [{"success_action_redirect": target}]
    )
    r = post(url, form, b"redirected")
    assert r.status_code == 303, r.text
    etag = md5_hex(b"redirected")
    assert r.headers["Location"] == (
        f"https://example.com/done?x=1&bucket={bucket}&key=a%20b%2Fc.txt&etag=%22{etag}%22"
    )
    assert r.headers["ETag"] == f'"{etag}"'


def test_content_type_list_and_empty_prefix(v4, s3, bucket):
    conditions = [["starts-with", "$Content-Type", "image/"], ["starts-with", "$x-amz-meta-note", ""]]
    url, form = presigned(v4, bucket, "img", conditions=conditions)
    r = post(url, {**form, "Content-Type": "image/png,image/gif", "x-amz-meta-note": "anything"})
    assert r.status_code == 204, r.text
    r = post(url, {**form, "Content-Type": "image/png,text/html", "x-amz-meta-note": ""})
    assert_error(r, "AccessDenied", 403)
    assert "Policy Condition failed" in error_of(r)["Message"]


def test_field_names_are_case_insensitive_and_fields_after_file_ignored(v4, s3, bucket):
    conditions = [["starts-with", "$x-amz-meta-color", ""]]
    url, form = presigned(v4, bucket, "ci", conditions=conditions)
    shouted = {k.upper() if k in ("key", "policy") else k: v for k, v in form.items()}
    shouted["X-Amz-Meta-Color"] = "red"
    r = post(url, shouted, after={"x-amz-meta-late": "ignored", "x-not-in-policy": "1"})
    assert r.status_code == 204, r.text
    assert s3.head_object(Bucket=bucket, Key="ci")["Metadata"] == {"color": "red"}


def test_content_length_range_bounds_the_file(server, v4, s3, bucket):
    url, form = presigned(v4, bucket, "sized", conditions=[["content-length-range", 10, 100]])
    r = post(url, form, b"x" * 100)
    assert r.status_code == 204, r.text
    r = post(url, {**form, "key": "sized"}, b"x" * 5000)
    err = assert_error(r, "EntityTooLarge", 400)
    assert err.get("MaxSizeAllowed") == "100"
    assert s3.head_object(Bucket=bucket, Key="sized")["ContentLength"] == 100
    url, form = presigned(v4, bucket, "small", conditions=[["content-length-range", 10, 100]])
    r = post(url, form, b"x" * 9)
    err = assert_error(r, "EntityTooSmall", 400)
    assert (err.get("ProposedSize"), err.get("MinSizeAllowed")) == ("9", "10")
    assert_absent(s3, bucket, "small")
    assert tmp_files(server.directory) == []


def test_too_large_upload_is_stopped_before_it_ends(v4, s3, bucket):
    """A file past the range is refused while it streams: the answer comes before the
    client has sent it all (it would otherwise sit on the server until the end)."""
    url, form = presigned(v4, bucket, "huge", conditions=[["content-length-range", 0, 1024]])

    def endless():
        yield from ()
        chunk = b"z" * 65536
        for _ in range(16 * 1024):  # 1 GiB, never all sent
            yield chunk

    boundary = "----smartstorageboundary"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in form.items()
    )
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="h"\r\n\r\n'.encode()

    def body():
        yield head
        yield from endless()

    try:
        r = requests.post(
            url, data=body(), timeout=TIMEOUT,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert_error(r, "EntityTooLarge", 400)
    except requests.exceptions.ConnectionError:
        pass  # the server answered and closed while the client was still sending
    assert_absent(s3, bucket, "huge")


def test_large_file_streams_through(v4, s3, bucket):
    data = bytes(range(256)) * (96 * 1024)  # 24 MiB: staged, not buffered
    url, form = presigned(v4, bucket, "large.bin", conditions=[["content-length-range", 1, 64 * 1024 * 1024]])
    r = post(url, form, data)
    assert r.status_code == 204, r.text
    assert r.headers["ETag"] == f'"{md5_hex(data)}"'
    head = s3.head_object(Bucket=bucket, Key="large.bin")
    assert head["ContentLength"] == len(data)
    assert hashlib.md5(s3.get_object(Bucket=bucket, Key="large.bin")["Body"].read()).hexdigest() == md5_hex(data)


def test_versioned_bucket_answers_version_id(v4, s3, vbucket):
    url, form = presigned(v4, vbucket, "v")
    r = post(url, form, b"one")
    assert r.status_code == 204, r.text
    version = r.headers["x-amz-version-id"]
    got = s3.get_object(Bucket=vbucket, Key="v", VersionId=version)
    assert got["Body"].read() == b"one"


def test_checksum_field_is_verified(v4, s3, bucket):
    data = b"checked"
    conditions = [["starts-with", "$x-amz-checksum-crc32", ""]]
    url, form = presigned(v4, bucket, "sum", conditions=conditions)
    r = post(url, {**form, "x-amz-checksum-crc32": b64_crc32(data)}, data)
    assert r.status_code == 204, r.text
    assert r.headers["x-amz-checksum-crc32"] == b64_crc32(data)
    r = post(url, {**form, "x-amz-checksum-crc32": b64_crc32(b"other")}, data)
    assert r.status_code == 400, r.text


def test_sigv2_form_from_default_boto3_client(s3, bucket):
    url, form = presigned(s3, bucket, "v2.txt")
    assert "AWSAccessKeyId" in form and "signature" in form
    r = post(url, form, b"v2 body")
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="v2.txt")["Body"].read() == b"v2 body"
    r = post(url, {**form, "signature": base64.b64encode(b"x" * 20).decode()})
    assert_error(r, "SignatureDoesNotMatch", 403)


def test_virtual_hosted_bucket_url(server, v4, s3, bucket):
    _, form = presigned(v4, bucket, "vh")
    r = post(f"http://127.0.0.1:{server.port}/", form, b"vhost", headers={"Host": f"{bucket}.localhost:{server.port}"})
    assert r.status_code == 204, r.text
    assert r.headers["Location"] == f"http://{bucket}.localhost:{server.port}/vh"
    assert s3.get_object(Bucket=bucket, Key="vh")["Body"].read() == b"vhost"


def test_encryption_and_acl_fields_apply_as_on_putobject(v4, s3, bucket):
    fields = {"x-amz-server-side-encryption": "AES256", "acl": "private"}
    url, form = presigned(v4, bucket, "sealed", fields, [{k: v} for k, v in fields.items()])
    r = post(url, form, b"secret form")
    assert r.status_code == 204, r.text
    assert r.headers["x-amz-server-side-encryption"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="sealed")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == b"secret form"
    # Unknown encryption is refused as PutObject refuses the header.
    fields = {"x-amz-server-side-encryption": "ROT13"}
    url, form = presigned(v4, bucket, "rot", fields, [{k: v} for k, v in fields.items()])
    assert post(url, form).status_code == 400
    assert_absent(s3, bucket, "rot")


def test_anyone_may_post_with_auth_off():
    with started_server(REGION) as srv:
        c = srv.client()
        c.create_bucket(Bucket="open-post")
        r = post(f"{srv.endpoint}/open-post", {"key": "free"}, b"no auth")
        assert r.status_code == 204, r.text
        assert c.get_object(Bucket="open-post", Key="free")["Body"].read() == b"no auth"
        # A policy, when there is one, still binds the form.
        url, form = presigned(c, "open-post", "late", expires=-60)
        assert_error(post(url, form), "AccessDenied", 403)


def test_sigv2_form_refused_when_sigv2_is_off(s3):
    with Server(REGION, ["--no-sigv2"], access_key=ACCESS_KEY, secret_key=SECRET_KEY).start() as srv:
        c = srv.client()
        c.create_bucket(Bucket="no-v2-post")
        url, form = presigned(c, "no-v2-post", "k")
        assert "signature" in form
        err = assert_error(post(url, form), "InvalidRequest", 400)
        assert "AWS4-HMAC-SHA256" in err["Message"]
        v4c = srv.client(config={"signature_version": "s3v4"})
        url, form = presigned(v4c, "no-v2-post", "k")
        assert post(url, form).status_code == 204


# -- refusals ----------------------------------------------------------------


def test_expired_policy(v4, s3, bucket):
    url, form = presigned(v4, bucket, "late", expires=-60)
    r = post(url, form)
    err = assert_error(r, "AccessDenied", 403)
    assert err["Message"] == "Invalid according to Policy: Policy expired."
    assert_absent(s3, bucket, "late")


def test_bad_signature_and_unknown_access_key(server, v4, s3, bucket):
    url, form = presigned(v4, bucket, "sig")
    bad = form["x-amz-signature"][:-1] + ("0" if form["x-amz-signature"][-1] != "0" else "1")
    assert_error(post(url, {**form, "x-amz-signature": bad}), "SignatureDoesNotMatch", 403)
    stranger = make_client(server.endpoint, REGION, access_key="AKIDNOBODY", secret_key="nope", config={"signature_version": "s3v4"})
    url, form = presigned(stranger, bucket, "sig")
    assert_error(post(url, form), "InvalidAccessKeyId", 403)
    assert_absent(s3, bucket, "sig")


def test_condition_failure_names_the_condition(v4, s3, bucket):
    url, form = presigned(v4, bucket, "cond", {"Content-Type": "text/plain"}, [{"Content-Type": "text/plain"}])
    r = post(url, {**form, "Content-Type": "text/html"})
    err = assert_error(r, "AccessDenied", 403)
    assert err["Message"] == 'Invalid according to Policy: Policy Condition failed: ["eq", "$content-type", "text/plain"]'
    assert_absent(s3, bucket, "cond")


def test_field_not_in_policy_is_an_extra_input_field(v4, s3, bucket):
    url, form = presigned(v4, bucket, "extra")
    r = post(url, {**form, "x-amz-meta-sneaky": "1", "x-ignore-this": "fine"})
    err = assert_error(r, "AccessDenied", 403)
    assert err["Message"] == "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky"
    assert_absent(s3, bucket, "extra")


def test_missing_key_and_missing_file(v4, bucket):
    url, form = presigned(v4, bucket, "nokey")
    without_key = {k: v for k, v in form.items() if k != "key"}
    err = assert_error(post(url, without_key), "InvalidArgument", 400)
    assert err["Message"].startswith("Bucket POST must contain a field named 'key'.")
    r = requests.post(url, files=[(k, (None, v)) for k, v in form.items()], timeout=TIMEOUT)
    err = assert_error(r, "InvalidArgument", 400)
    assert err["Message"] == "POST requires exactly one file upload per request."


def test_not_multipart_is_precondition_failed(v4, bucket):
    url, form = presigned(v4, bucket, "urlenc")
    r = requests.post(url, data=form, timeout=TIMEOUT)
    err = assert_error(r, "PreconditionFailed", 412)
    assert err["Condition"] == "Bucket POST must be of the enclosure-type multipart/form-data"


def test_malformed_policies(bucket, server):
    url = f"{server.endpoint}/{bucket}"
    for policy in [
        "%%% not base64 %%%",
        base64.b64encode(b"{not json").decode(),
        base64.b64encode(b'{"conditions": []}').decode(),
        base64.b64encode(json.dumps({"expiration": in_an_hour(), "conditions": [["ends-with", "$key", "x"]]}).encode()).decode(),
    ]:
        r = post(url, {"key": "p", **sign_v4_form(policy)})
        assert_error(r, "InvalidPolicyDocument", 400)


def test_own_policy_with_bucket_condition(server, s3, bucket):
    url = f"{server.endpoint}/{bucket}"
    policy = {"expiration": in_an_hour(), "conditions": [{"bucket": bucket}, ["starts-with", "$key", "own/"],
              ["starts-with", "$x-amz-credential", ""], ["starts-with", "$x-amz-date", ""],
              {"x-amz-algorithm": "AWS4-HMAC-SHA256"}]}
    r = post(url, {"key": "own/1", **sign_v4_form(policy)})
    assert r.status_code == 204, r.text
    other = {**policy, "conditions": [{"bucket": "some-other-bucket"}] + policy["conditions"][1:]}
    err = assert_error(post(url, {"key": "own/2", **sign_v4_form(other)}), "AccessDenied", 403)
    assert "Policy Condition failed" in err["Message"]


def test_form_fields_before_the_file_are_bounded(v4, bucket):
    url, form = presigned(v4, bucket, "big-fields")
    r = post(url, {**form, "x-ignore-padding": "p" * (21 * 1024)})
    err = assert_error(r, "MaxPostPreDataLengthExceededError", 400)
    assert err["MaxPostPreDataLengthBytes"] == "20480"


def test_part_header_that_never_ends_is_refused(server, bucket):
    """Part headers are buffered until they end: one that does not is cut off."""
    boundary = "b0undary"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\nX-Pad: '.encode() + b"a" * (3 * 1024 * 1024)
    r = requests.post(f"{server.endpoint}/{bucket}", data=body, timeout=TIMEOUT,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_error(r, "MaxPostPreDataLengthExceededError", 400)


def test_truncated_form_is_malformed(server, bucket):
    boundary = "b0undary"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--{boundary}\r\nContent-Disp'.encode()
    r = requests.post(f"{server.endpoint}/{bucket}", data=body, timeout=TIMEOUT,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_error(r, "MalformedPOSTRequest", 400)


def test_missing_bucket_is_nosuchbucket(server):
    r = post(f"{server.endpoint}/no-such-bucket-post", {"key": "k"})
    assert_error(r, "NoSuchBucket", 404)


# -- anonymous forms and the bucket policy --------------------------------------


def test_anonymous_post_needs_a_bucket_policy(server, s3, bucket):
    url = f"{server.endpoint}/{bucket}"
    assert_error(post(url, {"key": "anon/1"}), "AccessDenied", 403)
    assert_absent(s3, bucket, "anon/1")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{bucket}/anon/*"}],
    }))
    r = post(url, {"key": "anon/1", "Content-Type": "text/plain"}, b"anonymous")
    assert r.status_code == 204, r.text
    got = s3.get_object(Bucket=bucket, Key="anon/1")
    assert got["Body"].read() == b"anonymous"
    assert got["ContentType"] == "text/plain"
    # The policy names the objects it allows: elsewhere the anonymous form is refused.
    assert_error(post(url, {"key": "other/1"}), "AccessDenied", 403)


def test_signed_form_is_subject_to_a_deny_policy(server, s3, v4, bucket):
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{bucket}/locked/*"}],
    }))
    url, form = presigned(v4, bucket, "locked/x")
    assert_error(post(url, form), "AccessDenied", 403)
    url, form = presigned(v4, bucket, "open/x")
    assert post(url, form).status_code == 204


# -- CORS ------------------------------------------------------------------------


def test_cors_headers_on_post_and_preflight(server, s3, v4, bucket):
    origin = "https://uploader.example"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [origin], "AllowedMethods": ["POST"], "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"]},
    ]})
    pre = requests.options(f"{server.endpoint}/{bucket}", timeout=TIMEOUT, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200, pre.text
    assert pre.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    url, form = presigned(v4, bucket, "cors")
    r = post(url, form, headers={"Origin": origin})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == origin
    assert "ETag" in r.headers["Access-Control-Expose-Headers"]
    r = post(url, {**form, "x-amz-meta-extra": "1"}, headers={"Origin": origin})
    assert r.status_code == 403
    assert r.headers["Access-Control-Allow-Origin"] == origin
