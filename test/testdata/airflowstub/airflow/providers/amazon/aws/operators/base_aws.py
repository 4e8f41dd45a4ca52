"""Stand-in for the Amazon provider's AwsBaseOperator (operators/base_aws.py)."""

import airflow


class AwsBaseOperator(airflow.BaseOperator):
    def __init__(self, *, aws_conn_id="aws_default", region_name=None, verify=None, botocore_config=None, **kwargs):
        super().__init__(**kwargs)


def aws_template_fields(*template_fields):
    """utils/mixins.py: the given template fields and the AWS ones, in alphabetical order."""
    return tuple(sorted({"aws_conn_id", "region_name", "verify"} | set(template_fields)))
