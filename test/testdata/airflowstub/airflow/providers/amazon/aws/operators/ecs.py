"""Stand-in for the Amazon provider's EcsRunTaskOperator: records its arguments on the DAG."""

import airflow


class EcsRunTaskOperator:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        dag = kwargs.get("dag") or airflow.current_dag()
        if dag is None:
            raise RuntimeError("EcsRunTaskOperator declared outside a DAG")
        dag.tasks.append(self)
