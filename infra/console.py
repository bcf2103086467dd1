"""The web console on AWS: one CloudFront distribution in front of both the console and the API.

The console is static files (`console/` of the checkout) that talk only to `/api/...` with the
user's token. So that page and API share one origin (no CORS, and the page's CSP can say
`connect-src 'self'`), a single distribution serves:

  * `/` and `/console/*` from the artifacts bucket's `console/` objects (`STACK.CONSOLE_PREFIX`,
    uploaded by `scripts/deploy`), read through Origin Access Control. The bucket stays private:
    its policy lets this distribution's OAC read `console/*` and nothing else (the bucket also
    holds project archives and job output). `/` is the default root object, `console/index.html`;
    any other path reaches the bucket and is refused there.
  * `/api/*` from the API Gateway stage, never cached, every method, with all the viewer's
    headers but Host (so `Authorization` and the query string reach the API).

HTTPS only (HTTP is redirected); the console's responses carry the same security headers as the
local stack sends (`chalicelib.local.console`), the CSP included.

`scripts/deploy` uploads the files after the stack is in place:
`python -m infra.console upload BUCKET` (`upload()`: content types as the local stack sends them,
`Cache-Control: no-cache`, stale objects under `console/` removed, nothing else of the bucket touched).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from chalicelib.stack import STACK
from infra.cfn import ref, sub

DISTRIBUTION = "ConsoleDistribution"
ORIGIN_ACCESS_CONTROL = "ConsoleOriginAccessControl"
RESPONSE_HEADERS = "ConsoleResponseHeadersPolicy"
BUCKET = "ArtifactsBucket"
API = "RestAPI"  # the API Gateway REST API `chalice package` emits
BUCKET_ORIGIN = "console-bucket"
API_ORIGIN = "api"
#: AWS managed policies (ids are the same in every account and region)
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
ROOT = Path(__file__).resolve().parent.parent


def api_stage() -> str:
    """The API Gateway stage Chalice deploys to (`.chalice/config.json`): the API origin's path,
    so that `/api/job/job/` at the distribution reaches the stage's `/api/job/job` route."""
    from infra.build import STAGE

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return config["stages"][STAGE].get("api_gateway_stage", "api")


def origin_access_control() -> dict:
    return {ORIGIN_ACCESS_CONTROL: {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {
        "OriginAccessControlConfig": {
            "Name": sub("${AWS::StackName}-console"),
            "Description": "CloudFront reads the console's objects of the artifacts bucket",
            "OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"}}}}


def response_headers_policy() -> dict:
    return {RESPONSE_HEADERS: {"Type": "AWS::CloudFront::ResponseHeadersPolicy", "Properties": {
        "ResponseHeadersPolicyConfig": {
            "Name": sub("${AWS::StackName}-console-security"),
            "Comment": "The web console's security headers (as the local stack sends them)",
            "SecurityHeadersConfig": {
                "ContentSecurityPolicy": {"ContentSecurityPolicy": STACK.CONSOLE_CSP, "Override": True},
                "ContentTypeOptions": {"Override": True},
                "FrameOptions": {"FrameOption": "DENY", "Override": True},
                "ReferrerPolicy": {"ReferrerPolicy": "no-referrer", "Override": True},
                "StrictTransportSecurity": {"AccessControlMaxAgeSec": 31536000, "IncludeSubdomains": False,
                                            "Override": True},
            }}}}}


def console_behavior(**extra) -> dict:
    return {"TargetOriginId": BUCKET_ORIGIN, "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": ["GET", "HEAD"], "CachedMethods": ["GET", "HEAD"], "Compress": True,
            "CachePolicyId": CACHING_OPTIMIZED, "ResponseHeadersPolicyId": ref(RESPONSE_HEADERS), **extra}


def distribution() -> dict:
    stage = api_stage()
    return {DISTRIBUTION: {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
        "Comment": sub("${AWS::StackName}: OpsGrat web console and API"),
        "Enabled": True,
        "HttpVersion": "http2and3",
        "IPV6Enabled": True,
        "PriceClass": "PriceClass_100",
        "DefaultRootObject": STACK.CONSOLE_PREFIX + "index.html",
        "Origins": [
            {"Id": BUCKET_ORIGIN, "DomainName": {"Fn::GetAtt": [BUCKET, "RegionalDomainName"]},
             "OriginAccessControlId": {"Fn::GetAtt": [ORIGIN_ACCESS_CONTROL, "Id"]},
             "S3OriginConfig": {"OriginAccessIdentity": ""}},
            {"Id": API_ORIGIN, "DomainName": sub(f"${{{API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"),
             "OriginPath": f"/{stage}",
             "CustomOriginConfig": {"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"]}},
        ],
        "DefaultCacheBehavior": console_behavior(),
        "CacheBehaviors": [
            console_behavior(PathPattern="/" + STACK.CONSOLE_PREFIX + "*"),
            {"PathPattern": "/api/*", "TargetOriginId": API_ORIGIN, "ViewerProtocolPolicy": "redirect-to-https",
             "AllowedMethods": ALL_METHODS, "CachedMethods": ["GET", "HEAD"], "Compress": True,
             "CachePolicyId": CACHING_DISABLED, "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_HEADER},
        ],
    }}}}


def bucket_read_statement() -> dict:
    """The artifacts bucket policy's statement for the console: this distribution's OAC may read
    the console's objects, nothing else of the bucket."""
    return {
        "Sid": "ConsoleDistributionReadsConsoleObjects", "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
        "Resource": sub("${" + BUCKET + ".Arn}/" + STACK.CONSOLE_PREFIX + "*"),
        "Condition": {"StringEquals": {"AWS:SourceArn": sub(
            "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${" + DISTRIBUTION + "}")}},
    }


def resources() -> dict:
    return {**origin_access_control(), **response_headers_policy(), **distribution()}


def outputs() -> dict:
    return {
        "ConsoleURL": {"Description": "The web console (and the API under /api/) behind CloudFront",
                       "Value": sub("https://${" + DISTRIBUTION + ".DomainName}/")},
        "ConsoleDistributionId": {"Value": ref(DISTRIBUTION)},
    }



def upload(s3, bucket: str, root: Path | None = None) -> dict[str, list[str]]:
    """Make the bucket's `console/` objects the files of `root` (default: the checkout's `console/`).

    Each file goes up with the content type the local stack serves it with and `no-cache`
    (browsers and CloudFront revalidate by ETag, so a deploy shows at once); objects under the
    prefix that are no longer files are deleted. Hidden files are left out, as the local stack
    refuses them. Returns {"uploaded": keys, "deleted": keys}.
    """
    from chalicelib.local import console as local_console

    root = root or local_console.ROOT
    if not (root / local_console.INDEX).is_file():
        raise SystemExit(f"console upload: {root / local_console.INDEX} is missing")
    files = {STACK.CONSOLE_PREFIX + path.relative_to(root).as_posix(): path
             for path in sorted(root.rglob("*"))
             if path.is_file() and not any(p.startswith(".") for p in path.relative_to(root).parts)}
    for key, path in files.items():
        s3.upload_file(str(path), bucket, key, ExtraArgs={
            "ContentType": local_console.content_type(path.name), "CacheControl": "no-cache"})
    stale = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=STACK.CONSOLE_PREFIX):
        stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in files]
    for start in range(0, len(stale), 1000):  # DeleteObjects takes at most 1000 keys
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[start:start + 1000]]})
    return {"uploaded": list(files), "deleted": stale}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "upload":
        print("usage: python -m infra.console upload BUCKET", file=sys.stderr)
        return 2
    import boto3

    done = upload(boto3.client("s3"), argv[1])
    print(f"console: {len(done['uploaded'])} files uploaded to s3://{argv[1]}/{STACK.CONSOLE_PREFIX}, "
          f"{len(done['deleted'])} stale removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
