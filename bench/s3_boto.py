#!/usr/bin/env python3
"""boto3 side of bench/s3.sh: one upload or download with the same part size and concurrency.

  s3_boto.py upload FILE KEY | download KEY FILE | mkbucket | rm KEY
Reads AWS_* / S3_BUCKET_NAME / AWS_S3_ENDPOINT_URL, S3_PART_SIZE, S3_CONCURRENCY.
Prints "seconds=<s>".
"""
import os, sys, time
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

env = os.environ
s3 = boto3.client("s3", endpoint_url=env.get("AWS_S3_ENDPOINT_URL"), region_name=env.get("AWS_REGION", "us-east-1"),
                  aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                  config=Config(s3={"addressing_style": "path"}, max_pool_connections=32))
bucket = env["S3_BUCKET_NAME"]
part = int(env.get("S3_PART_SIZE", 16 << 20))
conc = int(env.get("S3_CONCURRENCY", 4))
cfg = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=conc, use_threads=True)
cmd = sys.argv[1]
t = time.monotonic()
if cmd == "upload":
    s3.upload_file(sys.argv[2], bucket, sys.argv[3], Config=cfg)
elif cmd == "download":
    s3.download_file(bucket, sys.argv[2], sys.argv[3], Config=cfg)
elif cmd == "mkbucket":
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
elif cmd == "rm":
    s3.delete_object(Bucket=bucket, Key=sys.argv[2])
elif cmd == "rmbucket":
    s3.delete_bucket(Bucket=bucket)
print(f"seconds={time.monotonic() - t:.3f}")
