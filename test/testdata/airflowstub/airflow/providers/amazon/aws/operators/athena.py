"""Stand-in for the Amazon provider's AthenaOperator (operators/athena.py, 9.0.0 signature)."""

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator, aws_template_fields


class AthenaOperator(AwsBaseOperator):
    template_fields = aws_template_fields("query", "database", "output_location", "workgroup", "catalog")
    template_ext = (".sql",)

    def __init__(self, *, query, database, output_location=None, client_request_token=None, workgroup="primary",
                 query_execution_context=None, result_configuration=None, sleep_time=30, max_polling_attempts=None,
                 log_query=True, deferrable=False, catalog="AwsDataCatalog", **kwargs):
        super().__init__(**kwargs)
