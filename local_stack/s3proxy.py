"""S3 of the local stack: S3Proxy over files on disk."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from lambda_common.errors import ServiceUnavailable, StackError
from lambda_common.objectstore import S3ObjectStore
from local_stack.service import ALL_INTERFACES, JavaService, Port, conf_file


class S3Service(JavaService):
    """S3Proxy with its filesystem backend: an S3 API over files on disk."""

    name = "s3"
    program = "s3proxy"
    main_class = "org.gaul.s3proxy.Main"
    heap = "256m"

    def ports(self) -> list[Port]:
        endpoint = self.settings.s3_endpoint
        if endpoint is None:
            raise StackError(
                "S3_ENDPOINT_URL is unset (real AWS S3): the local stack needs a local endpoint"
            )
        return [Port("S3_ENDPOINT_URL", endpoint)]

    def jvm_options(self) -> list[str]:
        return [
            *super().jvm_options(),
            f"-Dlogback.configurationFile={conf_file('s3proxy-logback.xml')}",
        ]

    def prepare(self) -> list[str]:
        s = self.settings
        if not (s.aws_access_key_id and s.aws_secret_access_key):
            raise StackError(
                "the local S3 server needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        (endpoint,) = (p.address for p in self.ports())
        bind = ALL_INTERFACES if self.bind_all else endpoint.host
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = {
            "s3proxy.endpoint": f"http://{bind}:{endpoint.port}",
            "s3proxy.authorization": "aws-v2-or-v4",
            "s3proxy.identity": s.aws_access_key_id,
            "s3proxy.credential": s.aws_secret_access_key.get_secret_value(),
            "jclouds.provider": "filesystem-nio2",
            "jclouds.identity": "local",
            "jclouds.credential": "local",
            "jclouds.filesystem.basedir": str(data),
        }
        # The file holds the local S3 secret: readable by us only.
        self.config_path.touch(mode=0o600, exist_ok=True)
        self.config_path.chmod(0o600)
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return ["--properties", str(self.config_path)]

    def probe(self) -> str:
        # list_buckets, not head_bucket: the bucket does not exist before the first start.
        try:
            S3ObjectStore(self.settings).client.list_buckets()
        except (BotoCoreError, ClientError) as e:
            raise ServiceUnavailable(f"S3 server not answering: {type(e).__name__}") from e
        return f"S3 API at {self.settings.s3_endpoint_url}"

    def after_healthy(self) -> None:
        S3ObjectStore(self.settings).ensure_bucket()
