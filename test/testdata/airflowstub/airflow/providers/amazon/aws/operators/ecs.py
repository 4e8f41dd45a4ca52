"""Stand-in for the Amazon provider's EcsRunTaskOperator (operators/ecs.py, 9.0.0 signature)."""

from datetime import timedelta

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator


class EcsRunTaskOperator(AwsBaseOperator):
    template_fields = (
        "task_definition", "cluster", "overrides", "launch_type", "capacity_provider_strategy",
        "volume_configurations", "group", "placement_constraints", "placement_strategy",
        "platform_version", "network_configuration", "tags", "awslogs_group", "awslogs_region",
        "awslogs_stream_prefix", "awslogs_fetch_interval", "propagate_tags", "reattach",
        "number_logs_exception", "wait_for_completion", "deferrable",
    )

    def __init__(self, *, task_definition, cluster, overrides, launch_type="EC2", capacity_provider_strategy=None,
                 volume_configurations=None, group=None, placement_constraints=None, placement_strategy=None,
                 platform_version=None, network_configuration=None, tags=None, awslogs_group=None,
                 awslogs_region=None, awslogs_stream_prefix=None, awslogs_fetch_interval=timedelta(seconds=30),
                 propagate_tags=None, quota_retry=None, reattach=False, number_logs_exception=10,
                 wait_for_completion=True, waiter_delay=6, waiter_max_attempts=1000000, deferrable=False, **kwargs):
        super().__init__(**kwargs)
