"""The console: a static single-page app served by the API itself at /console (ingest/console/), by a
small function of its own, and the bucket's CORS rule that lets the page upload straight to S3."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.functions import python_function
from ingest.config import ConsoleSettings

# Its two routes: the page, and its files by name (one path segment: the files sit in one directory).
CONSOLE_PATH = "/console"
CONSOLE_ROUTES = {("GET", CONSOLE_PATH), ("GET", f"{CONSOLE_PATH}/{{file}}")}
# The browser's direct calls to presigned URLs, and nothing else: PUT of a file (the console's upload form)
# or of a multipart part (Uppy, docs/browser_upload.md), GET of an error log shown in the job view. Complete
# and abort go through the API, so no POST or DELETE. The one request header sent is the file's
# content-type; ETag is exposed because a multipart client must read each part's ETag to complete.
# Origins: CDK context `browser_upload_origins` (infra/config.py), any by default (a presigned URL is
# itself the credential: anyone holding one can use it with curl, and S3 sends no cookies).
CORS_METHODS = [s3.HttpMethods.PUT, s3.HttpMethods.GET]
CORS_ALLOWED_HEADERS = ["content-type"]
CORS_EXPOSED_HEADERS = ["ETag"]
CORS_MAX_AGE_SECONDS = 3000


class Console(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, rest_api: apigw.RestApi, bucket: s3.Bucket,
                 upload_origins: tuple[str, ...] = ("*",)) -> None:
        super().__init__(scope, construct_id)
        self.path = CONSOLE_PATH
        self.function = python_function(
            self,
            "ConsoleFunction",
            handler="ingest.handlers.console.handler",
            description="Bulk-ingest console: the static page and its files",
            settings=ConsoleSettings(uploads_bucket=bucket.bucket_name),
            timeout=Duration.seconds(10),
            memory_size=256,
        )
        # No grant: the function reads its own files and signs a URL locally; it calls no AWS API.
        integration = apigw.LambdaIntegration(self.function, proxy=True)
        page = rest_api.root.resource_for_path(CONSOLE_PATH)
        for resource in (page, page.add_resource("{file}")):
            method = resource.add_method("GET", integration, authorization_type=apigw.AuthorizationType.NONE,
                                         api_key_required=False)
            for rule in ("APIG4", "COG4"):
                nag.acknowledge(
                    method, rule,
                    "The console's static page and files are public on purpose: the page asks for an API "
                    "token and sends it with every data call, each behind the token authorizer. These two "
                    "GET routes serve only our own HTML, JavaScript and CSS (no account data).",
                )
        bucket.add_cors_rule(allowed_methods=CORS_METHODS, allowed_origins=list(upload_origins),
                             allowed_headers=CORS_ALLOWED_HEADERS, exposed_headers=CORS_EXPOSED_HEADERS,
                             max_age=CORS_MAX_AGE_SECONDS)
