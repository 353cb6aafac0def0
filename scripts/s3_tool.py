#!/usr/bin/env python3
"""Small S3 client for the cloud checks (see scripts/cloud_local.sh).

    s3_tool.py mb BUCKET
    s3_tool.py put LOCAL_PATH s3://BUCKET/PREFIX
    s3_tool.py get s3://BUCKET/PREFIX LOCAL_DIR
    s3_tool.py ls [--uploads] s3://BUCKET/PREFIX
    s3_tool.py rm s3://BUCKET/PREFIX

The endpoint, credentials and region come from the usual AWS variables (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). A prefix names a folder or a single
key: s3://b/out covers the key "out" and everything under "out/", not "outer". An empty
prefix covers the whole bucket.

put: a file goes to PREFIX itself, or to PREFIX/NAME when PREFIX is empty or ends in "/"; a
directory is uploaded recursively as PREFIX/RELATIVE_PATH.
get: every key under PREFIX is written to LOCAL_DIR/RELATIVE_PATH (a key equal to PREFIX
to LOCAL_DIR/NAME); nothing there is an error.
ls: "KEY SIZE" per object, sorted by key. With --uploads: "KEY UPLOAD_ID" per multipart
upload begun and not yet completed or aborted, instead of the objects.
rm: deletes every object under PREFIX and aborts the uploads in progress there.

Errors go to stderr, and the exit code is 1.
"""

import argparse
import os
import sys

try:
    import boto3
    from boto3.exceptions import Boto3Error
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as e:
    sys.exit(f"s3_tool: needs boto3 ({e}); run it with the venv of scripts/cloud_local.sh")


class Failure(Exception):
    pass


def parse_url(url):
    if not url.startswith("s3://"):
        raise Failure(f"not an s3:// URL: {url}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise Failure(f"no bucket in {url}")
    return bucket, prefix


def client():
    # Path-style requests: an endpoint such as 127.0.0.1 has no per-bucket host names.
    config = Config(s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", config=config)


def covers(prefix, key):
    if not prefix:
        return True
    folder = prefix.rstrip("/")
    return key == prefix or key == folder or key.startswith(folder + "/")


def list_prefix(s3, bucket, prefix):
    """(key, size) of the objects under prefix, sorted by key."""
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix.rstrip("/")):
        for obj in page.get("Contents", []):
            if covers(prefix, obj["Key"]):
                found.append((obj["Key"], obj["Size"]))
    return sorted(found)


def list_uploads(s3, bucket, prefix):
    """(key, upload id) of the multipart uploads in progress under prefix, sorted."""
    found = []
    paginator = s3.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix.rstrip("/")):
        for up in page.get("Uploads", []):
            if covers(prefix, up["Key"]):
                found.append((up["Key"], up["UploadId"]))
    return sorted(found)


def cmd_mb(s3, args):
    bucket = args.bucket
    region = s3.meta.region_name
    kwargs = {"Bucket": bucket}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as e:
        # Making a bucket one already has is not worth failing a check over.
        if e.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def cmd_put(s3, args):
    bucket, prefix = parse_url(args.url)
    src = args.local
    if os.path.isdir(src):
        base = prefix.rstrip("/")
        count = 0
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, src).replace(os.sep, "/")
                s3.upload_file(path, bucket, base + "/" + rel if base else rel)
                count += 1
        print(f"s3_tool: uploaded {count} files to s3://{bucket}/{prefix}", file=sys.stderr)
    elif os.path.isfile(src):
        key = prefix + os.path.basename(src) if (not prefix or prefix.endswith("/")) else prefix
        s3.upload_file(src, bucket, key)
    else:
        raise Failure(f"no such file or directory: {src}")


def cmd_get(s3, args):
    bucket, prefix = parse_url(args.url)
    objects = list_prefix(s3, bucket, prefix)
    if not objects:
        raise Failure(f"nothing under s3://{bucket}/{prefix}")
    folder = prefix.rstrip("/")
    dest = os.path.abspath(args.local)
    for key, _ in objects:
        if key.endswith("/"):
            continue  # a folder marker
        if key in (prefix, folder):
            rel = key.rsplit("/", 1)[-1]
        else:
            rel = key[len(folder) + 1:] if folder else key
        parts = rel.split("/")
        if not rel or any(p in ("", ".", "..") for p in parts):
            raise Failure(f"key {key!r} does not make a safe local path")
        path = os.path.join(dest, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, key, path)


def cmd_ls(s3, args):
    bucket, prefix = parse_url(args.url)
    if args.uploads:
        for key, upload_id in list_uploads(s3, bucket, prefix):
            print(f"{key} {upload_id}")
    else:
        for key, size in list_prefix(s3, bucket, prefix):
            print(f"{key} {size}")


def cmd_rm(s3, args):
    bucket, prefix = parse_url(args.url)
    keys = [key for key, _ in list_prefix(s3, bucket, prefix)]
    for i in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[i:i + 1000]]
        resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        errors = resp.get("Errors", [])
        if errors:
            e = errors[0]
            raise Failure(f"could not delete s3://{bucket}/{e.get('Key')}: {e.get('Code')}: "
                          f"{e.get('Message')} ({len(errors)} failed)")
    uploads = list_uploads(s3, bucket, prefix)
    for key, upload_id in uploads:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    print(f"s3_tool: removed {len(keys)} objects, aborted {len(uploads)} uploads under "
          f"s3://{bucket}/{prefix}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    # Every failure exits 1, usage errors included.
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"s3_tool: error: {message}", file=sys.stderr)
        sys.exit(1)


def main(argv):
    parser = Parser(prog="s3_tool.py", description="Small S3 client; see the module doc.")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    p = sub.add_parser("mb", help="make a bucket")
    p.add_argument("bucket")
    p.set_defaults(run=cmd_mb)
    p = sub.add_parser("put", help="upload a file or a directory")
    p.add_argument("local")
    p.add_argument("url")
    p.set_defaults(run=cmd_put)
    p = sub.add_parser("get", help="download everything under a prefix")
    p.add_argument("url")
    p.add_argument("local")
    p.set_defaults(run=cmd_get)
    p = sub.add_parser("ls", help="list objects (or uploads in progress) under a prefix")
    p.add_argument("--uploads", action="store_true", help="list multipart uploads in progress")
    p.add_argument("url")
    p.set_defaults(run=cmd_ls)
    p = sub.add_parser("rm", help="delete everything under a prefix")
    p.add_argument("url")
    p.set_defaults(run=cmd_rm)
    args = parser.parse_args(argv)

    try:
        args.run(client(), args)
    except Failure as e:
        print(f"s3_tool: {e}", file=sys.stderr)
        return 1
    except ClientError as e:
        err = e.response.get("Error", {})
        print(f"s3_tool: {args.cmd} failed: {err.get('Code')}: {err.get('Message') or e}",
              file=sys.stderr)
        return 1
    except (Boto3Error, BotoCoreError, OSError) as e:
        where = os.environ.get("AWS_ENDPOINT_URL", "the default AWS endpoint")
        print(f"s3_tool: {args.cmd} failed (endpoint {where}): {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
