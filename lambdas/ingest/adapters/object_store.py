"""S3 access for uploads, work files (chunks, manifests) and results (error logs)."""

from __future__ import annotations

from typing import Iterator

from botocore.exceptions import ClientError

READ_CHUNK_BYTES = 1024 * 1024
_DELETE_BATCH = 1000  # DeleteObjects accepts at most 1,000 keys per call


class ObjectStore:
    def __init__(self, s3_client, bucket: str):
        self._s3 = s3_client
        self.bucket = bucket

    def size_of(self, key: str) -> int | None:
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def first_bytes(self, key: str, count: int) -> bytes:
        response = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{count - 1}")
        return response["Body"].read()

    def stream(self, key: str) -> Iterator[bytes]:
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK_BYTES)
        finally:
            body.close()

    def read(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        return self.size_of(key) is not None

    def put(self, key: str, data: bytes, content_type: str = "application/x-ndjson") -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_file(self, key: str, path: str, content_type: str = "application/x-ndjson") -> None:
        # upload_file switches to multipart for large files.
        self._s3.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def list_keys(self, prefix: str) -> list[str]:
        keys = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def delete_prefix(self, prefix: str) -> int:
        keys = [{"Key": key} for key in self.list_keys(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    def presigned_put(self, key: str, expires_in: int, content_length: int | None = None) -> str:
        """A PUT URL for one key; with content_length, S3 accepts only a body of exactly that size."""
        params = {"Bucket": self.bucket, "Key": key}
        if content_length is not None:
            params["ContentLength"] = content_length
        return self._s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)

    def presigned_get(self, key: str, expires_in: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
