"""aws-chunked streaming uploads (sigv4_signer.chunked_put): signed chunks
(STREAMING-AWS4-HMAC-SHA256-PAYLOAD), signed chunks with signed trailers
(...-PAYLOAD-TRAILER) and unsigned chunks with trailers
(STREAMING-UNSIGNED-PAYLOAD-TRAILER), for PutObject and UploadPart.

  * bad chunk or trailer signature    -> 403 SignatureDoesNotMatch
  * trailer checksum mismatch         -> 400 BadDigest
  * truncated body, wrong decoded length, announced trailer missing -> 4xx
Every rejected request must leave nothing stored and the engine serving.
Engine: the module's own, auth on (`server = auth_engine()`, sigv4_signer).
"""

from __future__ import annotations

import hashlib

import pytest

from helpers import MiB, assert_absent, assert_content, assert_error, assert_serving, b64_crc32, b64_crc32c
from helpers import data_of, parse_error
from sigv4_signer import KiB, SIGNED, SIGNED_TRAILER, THREE_CHUNKS, UNSIGNED_TRAILER, auth_engine, chunked_put

server = auth_engine()


# =========================================================================
# signed chunks
# =========================================================================


def test_chunked_signed_three_chunks(s3, signer, bucket):
    r = chunked_put(signer, f"/{bucket}/chunked.bin", THREE_CHUNKS)
    assert r.status_code == 200, r.content[:500]
    expected = b"".join(THREE_CHUNKS)
    assert r.headers.get("ETag") == f'"{hashlib.md5(expected).hexdigest()}"'
    assert_content(s3, bucket, "chunked.bin", expected)
    assert s3.head_object(Bucket=bucket, Key="chunked.bin")["ContentLength"] == 64 * KiB * 2 + 100


def test_chunked_content_encoding_not_stored(s3, signer, bucket):
    # aws-chunked is a transfer detail; S3 does not store it as Content-Encoding
    r = chunked_put(signer, f"/{bucket}/ce.bin", THREE_CHUNKS)
    assert r.status_code == 200, r.content[:500]
    h = s3.head_object(Bucket=bucket, Key="ce.bin")
    assert "aws-chunked" not in h.get("ContentEncoding", ""), h.get("ContentEncoding")


@pytest.mark.parametrize("tamper", ["data-0", "data-2", "sig-0", "sig-1", "sig-3"])
def test_chunked_signed_tampered_rejected(s3, signer, bucket, tamper):
    r = chunked_put(signer, f"/{bucket}/tampered.bin", THREE_CHUNKS, tamper=tamper)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "tampered.bin")
    # an existing object is not overwritten either
    s3.put_object(Bucket=bucket, Key="keep.bin", Body=b"keep me")
    r = chunked_put(signer, f"/{bucket}/keep.bin", THREE_CHUNKS, tamper=tamper)
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_content(s3, bucket, "keep.bin", b"keep me")
    assert_serving(s3, bucket)


# =========================================================================
# trailers
# =========================================================================


def test_chunked_unsigned_trailer_crc32(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(
        signer, f"/{bucket}/ut.bin", THREE_CHUNKS, mode=UNSIGNED_TRAILER,
        trailer=("x-amz-checksum-crc32", b64_crc32(payload)),
    )
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "ut.bin", payload)
    h = s3.head_object(Bucket=bucket, Key="ut.bin", ChecksumMode="ENABLED")
    assert h.get("ChecksumCRC32") == b64_crc32(payload), h


def test_chunked_unsigned_trailer_bad_crc32_bad_digest(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    wrong = b64_crc32(payload + b"!")
    r = chunked_put(signer, f"/{bucket}/utbad.bin", THREE_CHUNKS, mode=UNSIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32", wrong))
    assert_error(r, "BadDigest", 400)
    assert_absent(s3, bucket, "utbad.bin")
    s3.put_object(Bucket=bucket, Key="utkeep.bin", Body=b"keep")
    r = chunked_put(signer, f"/{bucket}/utkeep.bin", THREE_CHUNKS, mode=UNSIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32", wrong))
    assert_error(r, "BadDigest", 400)
    assert_content(s3, bucket, "utkeep.bin", b"keep")
    assert_serving(s3, bucket)


def test_chunked_signed_trailer(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/st.bin", THREE_CHUNKS, mode=SIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload)))
    assert r.status_code == 200, r.content[:500]
    assert_content(s3, bucket, "st.bin", payload)
    h = s3.head_object(Bucket=bucket, Key="st.bin", ChecksumMode="ENABLED")
    assert h.get("ChecksumCRC32C") == b64_crc32c(payload), h


def test_chunked_signed_trailer_bad_trailer_signature(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/stbad.bin", THREE_CHUNKS, mode=SIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload)), tamper="trailer-sig")
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "stbad.bin")
    assert_serving(s3, bucket)


def test_chunked_signed_trailer_bad_checksum_bad_digest(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/stcrc.bin", THREE_CHUNKS, mode=SIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload + b"!")))
    assert_error(r, "BadDigest", 400)
    assert_absent(s3, bucket, "stcrc.bin")
    assert_serving(s3, bucket)


# =========================================================================
# UploadPart, broken bodies
# =========================================================================


def test_chunked_signed_upload_part(s3, signer, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpchunk.bin")["UploadId"]
    part1 = [data_of(MiB, f"p1-{i}") for i in range(5)]
    r1 = chunked_put(signer, f"/{bucket}/mpchunk.bin", part1, params={"partNumber": "1", "uploadId": up})
    assert r1.status_code == 200, r1.content[:500]
    r2 = chunked_put(signer, f"/{bucket}/mpchunk.bin", THREE_CHUNKS, params={"partNumber": "2", "uploadId": up})
    assert r2.status_code == 200, r2.content[:500]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mpchunk.bin", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r1.headers["ETag"]},
                                   {"PartNumber": 2, "ETag": r2.headers["ETag"]}]},
    )
    assert_content(s3, bucket, "mpchunk.bin", b"".join(part1) + b"".join(THREE_CHUNKS))


def test_chunked_signed_tampered_upload_part_not_stored(s3, signer, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpbad.bin")["UploadId"]
    r = chunked_put(signer, f"/{bucket}/mpbad.bin", THREE_CHUNKS, params={"partNumber": "1", "uploadId": up},
                    tamper="data-1")
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert s3.list_parts(Bucket=bucket, Key="mpbad.bin", UploadId=up).get("Parts", []) == []
    s3.abort_multipart_upload(Bucket=bucket, Key="mpbad.bin", UploadId=up)
    assert_serving(s3, bucket)


# final 0-byte chunk of a signed upload is 86 bytes on the wire
@pytest.mark.parametrize("truncate", [86, 86 + 2 + 50])
def test_chunked_truncated_body_not_stored(s3, signer, bucket, truncate):
    r = chunked_put(signer, f"/{bucket}/trunc.bin", THREE_CHUNKS, truncate=truncate)
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:500])
    parse_error(r.content)
    assert_absent(s3, bucket, "trunc.bin")
    assert_serving(s3, bucket)


@pytest.mark.parametrize("delta", [1, -1])
def test_chunked_decoded_length_mismatch_not_stored(s3, signer, bucket, delta):
    r = chunked_put(signer, f"/{bucket}/declen.bin", THREE_CHUNKS, decoded_length_delta=delta)
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:500])
    parse_error(r.content)
    assert_absent(s3, bucket, "declen.bin")
    assert_serving(s3, bucket)


def test_chunked_unsigned_trailer_missing_trailer_not_stored(s3, signer, bucket):
    # x-amz-trailer announces a checksum that never arrives
    req_chunks = THREE_CHUNKS
    total = sum(len(c) for c in req_chunks)
    wire = bytearray()
    for c in req_chunks + [b""]:
        wire += f"{len(c):x}\r\n".encode() + c + b"\r\n"
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(total),
               "content-length": str(len(wire)), "x-amz-trailer": "x-amz-checksum-crc32"}
    r = signer.sign("PUT", f"/{bucket}/notrailer.bin", headers=headers, payload_hash=UNSIGNED_TRAILER).send(
        data=bytes(wire))
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:500])
    parse_error(r.content)
    assert_absent(s3, bucket, "notrailer.bin")
    assert_serving(s3, bucket)


# =========================================================================
# signature defects closed by the security review (each failed before its fix)
# =========================================================================


def test_chunked_signed_trailer_without_trailer_signature_is_refused(s3, signer, bucket):
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/nosig.bin", THREE_CHUNKS, mode=SIGNED_TRAILER,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload)), tamper="no-trailer-sig")
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "nosig.bin")


def test_chunked_signed_without_trailer_mode_refuses_unsigned_trailers(s3, signer, bucket):
    # STREAMING-AWS4-HMAC-SHA256-PAYLOAD signs the chunks only: trailers after them would be unsigned
    payload = b"".join(THREE_CHUNKS)
    r = chunked_put(signer, f"/{bucket}/extra.bin", THREE_CHUNKS, mode=SIGNED,
                    trailer=("x-amz-checksum-crc32c", b64_crc32c(payload)))
    assert_error(r, "SignatureDoesNotMatch", 403)
    assert_absent(s3, bucket, "extra.bin")
