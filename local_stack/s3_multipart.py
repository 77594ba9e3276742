"""Where moto's S3 differs from S3 in a way our code would notice.

- ListMultipartUploads answers the same `Initiated` for every upload (2010-11-10T20:48:33Z, a constant
  in moto 5.2.5's responses.py). The multipart lifecycle sweep (lambdas/ingest/logic/multipart_sweep.py)
  aborts uploads by that time, so with moto's it would abort every open upload at once. Each upload
  records when it was created, and the listing answers that, as S3 does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from moto.core.responses import ActionResult
from moto.s3.models import FakeMultipart
from moto.s3.responses import S3Response

# The constant moto writes; tests/e2e/test_multipart_upload.py fails if a moto upgrade changes the seam.
MOTO_INITIATED = "2010-11-10T20:48:33.000Z"


def install() -> None:
    """Give every multipart upload its creation time and list it (idempotent)."""
    if getattr(S3Response.list_multipart_uploads, "_local_stack", False):
        return
    create = FakeMultipart.__init__

    def __init__(self, *args, **kwargs) -> None:
        create(self, *args, **kwargs)
        self.initiated = datetime.now(UTC)

    def list_multipart_uploads(self):
        # moto's own method (moto/s3/responses.py), with each upload's creation time as `Initiated`.
        uploads = list(self.backend.list_multipart_uploads(self.bucket_name).values())
        prefix = self.querystring.get("prefix", [None])[0]
        if prefix is not None:
            uploads = [upload for upload in uploads if upload.key_name.startswith(prefix)]
        result = {
            "Bucket": self.bucket_name, "KeyMarker": "", "UploadIdMarker": "", "MaxUploads": 1000,
            "IsTruncated": False,
            "Uploads": [{
                "Key": upload.key_name,
                "UploadId": upload.id,
                "StorageClass": "STANDARD",
                "Initiated": getattr(upload, "initiated", None) or MOTO_INITIATED,
            } for upload in uploads],
        }
        self.data["Action"] = "ListMultipartUploads"
        return self.serialized(ActionResult(result))

    list_multipart_uploads._local_stack = True  # type: ignore[attr-defined]
    FakeMultipart.__init__ = __init__  # type: ignore[method-assign]  # moto's seam
    S3Response.list_multipart_uploads = list_multipart_uploads  # type: ignore[method-assign]  # moto's seam
