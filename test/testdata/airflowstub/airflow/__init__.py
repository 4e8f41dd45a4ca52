"""A stand-in for the Airflow names the pinpipe DAG imports, recording what the DAG declares.

The test imports the rendered DAG file with this package first on sys.path: no Airflow install,
and every argument the DAG passes is kept for the test to compare. The operators (in
airflow/providers/...) take exactly the arguments of the Amazon provider release MWAA's Airflow
2.10.3 installs (apache-airflow-providers-amazon 9.0.0, per the Airflow 2.10.3 constraints), as
their signatures there read: an argument the real operator does not take is a TypeError here too.
"""

DAGS = []
_current = []


class DAG:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.tasks = []
        DAGS.append(self)

    def __enter__(self):
        _current.append(self)
        return self

    def __exit__(self, *exc):
        _current.pop()
        return False


def current_dag():
    return _current[-1] if _current else None


# BaseOperator's own keyword arguments in Airflow 2.10 (airflow/models/baseoperator.py).
_BASE_ARGS = {
    "task_id", "owner", "email", "email_on_retry", "email_on_failure", "retries", "retry_delay",
    "retry_exponential_backoff", "max_retry_delay", "start_date", "end_date", "depends_on_past",
    "ignore_first_depends_on_past", "wait_for_past_depends_before_skipping", "wait_for_downstream",
    "dag", "params", "default_args", "priority_weight", "weight_rule", "queue", "pool", "pool_slots",
    "sla", "execution_timeout", "on_execute_callback", "on_failure_callback", "on_success_callback",
    "on_retry_callback", "on_skipped_callback", "pre_execute", "post_execute", "trigger_rule",
    "resources", "run_as_user", "task_concurrency", "map_index_template", "max_active_tis_per_dag",
    "max_active_tis_per_dagrun", "executor", "executor_config", "do_xcom_push", "multiple_outputs",
    "inlets", "outlets", "task_group", "doc", "doc_md", "doc_json", "doc_yaml", "doc_rst",
    "logger_name", "allow_nested_operators",
}


class BaseOperator:
    """Records the keyword arguments a task was declared with, its DAG and its upstream tasks."""

    template_fields = ()
    template_ext = ()

    def __new__(cls, *args, **kwargs):
        op = super().__new__(cls)
        op.kwargs = dict(kwargs)
        return op

    def __init__(self, *, task_id, **kwargs):
        unknown = set(kwargs) - _BASE_ARGS
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments {sorted(unknown)}")
        self.task_id = task_id
        self.upstream = []
        dag = kwargs.get("dag") or current_dag()
        if dag is None:
            raise RuntimeError(f"{type(self).__name__} declared outside a DAG")
        if any(t.task_id == task_id for t in dag.tasks):
            raise ValueError(f"task id {task_id} declared twice")
        dag.tasks.append(self)

    def __rshift__(self, other):
        other.upstream.append(self.task_id)
        return other
