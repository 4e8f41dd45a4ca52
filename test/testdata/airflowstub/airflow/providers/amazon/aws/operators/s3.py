"""Stand-in for the Amazon provider's S3CopyObjectOperator (operators/s3.py, 9.0.0 signature)."""

import airflow


class S3CopyObjectOperator(airflow.BaseOperator):
    template_fields = ("source_bucket_key", "dest_bucket_key", "source_bucket_name", "dest_bucket_name")

    def __init__(self, *, source_bucket_key, dest_bucket_key, source_bucket_name=None, dest_bucket_name=None,
                 source_version_id=None, aws_conn_id="aws_default", verify=None, acl_policy=None, **kwargs):
        super().__init__(**kwargs)
