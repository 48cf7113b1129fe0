#!/usr/bin/env python3
"""Generates s3_sigv4_botocore.json: botocore's SigV4 output for S3 requests.

Run ONCE (output is committed): python3 generate_s3_sigv4.py > s3_sigv4_botocore.json
Based on the project's botocore reference signer recipe: fixed date and credentials,
botocore's S3SigV4Auth (header signing) and S3SigV4QueryAuth (presigning). Keys are
encoded into the URL the way botocore/boto3 do it (quote(key, safe='/~')), so the Swift
test builds the same request from the raw key and compares canonical request, string to
sign and signature.
"""
import datetime, json, sys
from unittest import mock
from urllib.parse import quote

import botocore, botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DATE = "20130524T000000Z"


def sign(method, host, scheme, path, query, headers, body=b"", unsigned=False,
         presign=None, token=None, region="us-east-1"):
    qs = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    url = f"{scheme}://{host}{path}" + (f"?{qs}" if qs else "")
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    if unsigned:
        req.context["payload_signing_enabled"] = False
    creds = Credentials(ACCESS, SECRET, token)
    signer = (botocore.auth.S3SigV4QueryAuth(creds, "s3", region, expires=presign) if presign
              else botocore.auth.S3SigV4Auth(creds, "s3", region))
    seen = {}
    cr, sts, sig = signer.canonical_request, signer.string_to_sign, signer.signature
    signer.canonical_request = lambda r: seen.setdefault("canonical_request", cr(r))
    signer.string_to_sign = lambda r, c: seen.setdefault("string_to_sign", sts(r, c))
    signer.signature = lambda s, r: seen.setdefault("signature", sig(s, r))
    fixed = datetime.datetime.strptime(DATE, "%Y%m%dT%H%M%SZ")
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: fixed):
        signer.add_auth(req)
    out = dict(seen)
    if presign:
        out["url"] = req.url
    else:
        out["authorization"] = req.headers["Authorization"]
        out["x_amz_content_sha256"] = req.headers["X-Amz-Content-SHA256"]
    return out


AWKWARD = [
    "test.txt",
    "dir/my file (1).mp4",
    "vidéos/ünïcode 東京/clip.mkv",
    "a+b=c&d?e#f%g;h:i@j$k,l!m*n'o(p)q[r]s~t^u|v`w\"x<y>z{}.bin",
    "double//slash/./dot/../key",
    "already%20encoded%2Fkey",
]

cases = []
def add(name, key, style, method="GET", query=(), headers=(), body=b"", unsigned=False,
        presign=None, token=None, bucket="examplebucket", endpoint=None):
    if style == "path":
        scheme, host = endpoint.split("://")
        path = "/" + bucket + "/" + quote(key, safe="/~") if key is not None else "/" + bucket
    else:
        scheme, host = "https", f"{bucket}.s3.amazonaws.com"
        path = "/" + quote(key, safe="/~") if key is not None else "/"
    hdrs = [("Host", host)] + list(headers)
    out = sign(method, host, scheme, path, list(query), hdrs, body, unsigned, presign, token)
    cases.append({
        "name": name, "method": method, "bucket": bucket, "key": key, "style": style,
        "endpoint": endpoint, "query": [list(q) for q in query],
        "headers": [list(h) for h in hdrs], "body": body.decode(),
        "payload": "UNSIGNED-PAYLOAD" if presign else out["x_amz_content_sha256"],
        "presign_expires": presign, "session_token": token, "date": DATE, **out})

# AWS's documented S3 examples (virtual-hosted).
add("aws-doc-get-range", "test.txt", "virtual", headers=[("Range", "bytes=0-9")])
add("aws-doc-put", "test$file.text", "virtual", method="PUT",
    headers=[("x-amz-storage-class", "REDUCED_REDUNDANCY")],
    body=b"Welcome to Amazon S3.")
add("aws-doc-list", None, "virtual", query=[("max-keys", "2"), ("prefix", "J")])
add("aws-doc-presign-get", "test.txt", "virtual", presign=86400)
# Path-style against a local endpoint with a port, unsigned payload and ranges.
# https: botocore always signs the payload over plain http; the scheme is not signed.
EP = "https://127.0.0.1:7480"
for i, key in enumerate(AWKWARD):
    add(f"path-get-range-unsigned-{i}", key, "path", endpoint=EP, bucket="media-bucket",
        headers=[("Range", "bytes=1048576-2097151")], unsigned=True)
    add(f"path-put-signed-{i}", key, "path", method="PUT", endpoint=EP, bucket="media-bucket",
        headers=[("Content-Type", "video/mp4"), ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
        body="hello, S3 ✓".encode())
    add(f"path-presign-get-{i}", key, "path", endpoint=EP, bucket="media-bucket", presign=900)
    add(f"path-presign-put-{i}", key, "path", method="PUT", endpoint=EP, bucket="media-bucket",
        presign=3600)
    add(f"virtual-get-{i}", key, "virtual", bucket="examplebucket")
add("path-list-v2", None, "path", endpoint=EP, bucket="media-bucket",
    query=[("list-type", "2"), ("prefix", "in put/é+&="), ("max-keys", "3"),
           ("continuation-token", "1/abc+def=="), ("encoding-type", "url")], unsigned=True)
add("path-create-multipart", "big file.mkv", "path", method="POST", endpoint=EP,
    bucket="media-bucket", query=[("uploads", "")], unsigned=True)
add("path-upload-part", "big file.mkv", "path", method="PUT", endpoint=EP, bucket="media-bucket",
    query=[("partNumber", "3"), ("uploadId", "2~abc/DEF+ghi=")], unsigned=True,
    headers=[("Content-MD5", "XUFAKrxLKna5cZ2REBfFkg==")])
add("path-session-token", "k", "path", endpoint=EP, bucket="media-bucket",
    token="FQoGZXIvYXdzEXAMPLETOKEN//+==", unsigned=True)
add("path-presign-session-token", "k", "path", endpoint=EP, bucket="media-bucket",
    token="FQoGZXIvYXdzEXAMPLETOKEN//+==", presign=60)
add("path-create-bucket", None, "path", method="PUT", endpoint=EP, bucket="media-bucket")

json.dump({"generator": f"botocore {botocore.__version__}", "access_key": ACCESS,
           "secret_key": SECRET, "region": "us-east-1", "cases": cases},
          sys.stdout, indent=1, ensure_ascii=False)
print()
