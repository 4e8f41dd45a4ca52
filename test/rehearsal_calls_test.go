package test

// The calls table: what each runtime principal of the deployed pipeline does (and must not be
// able to do), why, and which code does it. TestRehearsalIAM evaluates every row against the
// synthesized policies with @cloud-copilot/iam-simulate.
//
// Principal: "<Stack>:<role logical id prefix>" (a role of stack Pinpipe-<user>-<Stack>), or
// "service:<service principal>" (a call signed by an AWS service, governed by resource
// policies), or "foreign" (an administrator of another account).
// Resource and Context take placeholders: {account} {region} {partition} {user};
// {ref:<Stack>:<prefix>} (Ref of a resource), {att:<Stack>:<prefix>:<Attr>}, {name:<Stack>:<prefix>};
// {cluster}, {topic:<name>}, {group:<name>} (MSK ARNs of the created or imported cluster).
// When: "" always; otherwise terms joined by "+", each of which must hold: "mwaa",
// "eventbridge" (the scheduler), "duckdb", "athena" (analysisEngine), "emulator" (deployed),
// "key", "iam" (apiAuth), "github" (githubRepo: the GitHub OIDC stack).

// iamCall is one row.
type iamCall struct {
	Principal, Action, Resource string
	Context                     map[string]string
	Allow                       bool
	When                        string
	// Why the call is made (or must be refused), and the code that makes it.
	Why, Code string
}

const (
	sinkObject    = "arn:{partition}:s3:::{ref:Storage:Sink}/topics/{user}.pin/partition=0/{user}.pin+0+0000000000.json"
	resultsObject = "arn:{partition}:s3:::{ref:Storage:Results}/batch/top_category_by_country.csv"
	warehouseObj  = "arn:{partition}:s3:::{ref:Storage:Results}/iceberg/pinpipe_{user}.db/{user}_pin_table/data/00000-0-x.parquet"
	connectorName = "{name:Ingestion:S3Sink}"
	// apiRoute is the deployed API's stage in execute-api ARNs: <route> = /<METHOD>/<path>.
	apiRoute  = "arn:{partition}:execute-api:{region}:{account}:{ref:Ingestion:Api}/prod"
	otherUser = "zz9other"

	// The batch job's incremental state under batch/ of the results bucket (analytics/outlayout),
	// and the objects around it.
	resultsBucket   = "arn:{partition}:s3:::{ref:Storage:Results}"
	stateFile       = resultsBucket + "/batch/_state/state.json"
	stateRunFile    = resultsBucket + "/batch/_state/20260101T020000Z-a1b2c3/seen-pin.roaring"
	cleanRunFile    = resultsBucket + "/batch/clean/pin/20260101T020000Z-a1b2c3.parquet"
	quarantineFile  = resultsBucket + "/batch/quarantine/20260101T020000Z-a1b2c3.jsonl"
	reportObject    = resultsBucket + "/batch/report.html"
	athenaResult    = resultsBucket + "/athena/0f3c5a1e-7d2b-4c8e-9a6f-1b2c3d4e5f60.csv"
	athenaWorkgroup = "arn:{partition}:athena:{region}:{account}:workgroup/{ref:Query:AthenaWorkGroup}"
	cleanTable      = "arn:{partition}:glue:{region}:{account}:table/pinpipe_{user}/pin"
)

// The context of the calls that start the batch task: RunTask names its cluster, and PassRole
// is to ECS tasks.
var (
	runTaskContext = map[string]string{"ecs:cluster": "{att:Batch:AnalyseCluster:Arn}"}
	passToECS      = map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}
)

var iamCalls = []iamCall{
	// MSK Connect worker: the Confluent S3 sink reads the user's topics and writes the sink bucket.
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:Connect", Resource: "{cluster}", Allow: true,
		Why: "every Kafka client connects with IAM auth", Code: "MSK Connect worker (stacks/ingestion.go s3Sink)"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:DescribeTopic", Resource: "{topic:{user}.pin}", Allow: true,
		Why: "the sink task describes the topics it consumes", Code: "Confluent S3 sink (topics.regex)"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:ReadData", Resource: "{topic:{user}.geo}", Allow: true,
		Why: "the sink consumes the user's topics", Code: "Confluent S3 sink"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:AlterGroup", Resource: "{group:connect-" + connectorName + "}", Allow: true,
		Why: "a sink connector consumes in group connect-<connector name>", Code: "Kafka Connect sink task"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:DescribeGroup", Resource: "{group:connect-" + connectorName + "}", Allow: true,
		Why: "the consumer group coordinator describes it", Code: "Kafka Connect sink task"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:CreateTopic", Resource: "{topic:__amazon_msk_connect_offsets_" + connectorName + "_5f7a1b2c}", Allow: true,
		Why: "MSK Connect creates its internal offsets/configs/status topics", Code: "MSK Connect worker"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:WriteData", Resource: "{topic:__amazon_msk_connect_status_" + connectorName + "_5f7a1b2c}", Allow: true,
		Why: "the worker writes its status and offsets", Code: "MSK Connect worker"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:WriteData", Resource: "{topic:__msk_connect_offsets_" + connectorName + "_5f7a1b2c}", Allow: true,
		Why: "MSK Connect also names internal topics __msk_connect_* (issue 9, minor)", Code: "MSK Connect worker"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:AlterGroup", Resource: "{group:__amazon_msk_connect_cluster_" + connectorName + "_5f7a1b2c}", Allow: true,
		Why: "the Connect workers coordinate in their own group", Code: "MSK Connect worker"},
	{Principal: "Ingestion:ConnectorRole", Action: "s3:PutObject", Resource: sinkObject, Allow: true,
		Why: "the sink writes topics/<topic>/partition=<p>/<topic>+<p>+<offset>.json (multipart: PutObject)", Code: "Confluent S3 sink"},
	{Principal: "Ingestion:ConnectorRole", Action: "s3:AbortMultipartUpload", Resource: sinkObject, Allow: true,
		Why: "a failed flush aborts its upload", Code: "Confluent S3 sink"},
	{Principal: "Ingestion:ConnectorRole", Action: "s3:ListBucket", Resource: "arn:{partition}:s3:::{ref:Storage:Sink}", Context: map[string]string{"s3:prefix": "topics/"}, Allow: true,
		Why: "the sink checks the bucket", Code: "Confluent S3 sink"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:WriteData", Resource: "{topic:{user}.pin}", Allow: false,
		Why: "the sink only reads the user's topics", Code: "-"},
	{Principal: "Ingestion:ConnectorRole", Action: "kafka-cluster:ReadData", Resource: "{topic:" + otherUser + ".pin}", Allow: false,
		Why: "another user's topics are not this pipeline's", Code: "-"},
	{Principal: "Ingestion:ConnectorRole", Action: "s3:PutObject", Resource: resultsObject, Allow: false,
		Why: "the sink writes the sink bucket only", Code: "-"},
	{Principal: "Ingestion:ConnectorRole", Action: "s3:DeleteObject", Resource: sinkObject, Allow: false,
		Why: "the sink never deletes raw records", Code: "-"},
	{Principal: "Ingestion:ConnectorRole", Action: "s3:PutObject", Resource: sinkObject, Context: map[string]string{"aws:SecureTransport": "false"}, Allow: false,
		Why: "the sink bucket's policy refuses requests without TLS", Code: "stacks/storage.go (EnforceSSL)"},

	// Firehose (one role per table): reads its stream, calls the cleaner, writes the Iceberg table.
	{Principal: "Streaming:CleanPinRole", Action: "kinesis:GetRecords", Resource: "{att:Storage:StreamPin:Arn}", Allow: true,
		Why: "Firehose reads its source stream", Code: "constructs/icebergstream (Kinesis source)"},
	{Principal: "Streaming:CleanPinRole", Action: "kinesis:GetShardIterator", Resource: "{att:Storage:StreamPin:Arn}", Allow: true,
		Why: "Firehose reads its source stream", Code: "constructs/icebergstream"},
	{Principal: "Streaming:CleanPinRole", Action: "kinesis:DescribeStream", Resource: "{att:Storage:StreamPin:Arn}", Allow: true,
		Why: "Firehose checks its source at creation", Code: "constructs/icebergstream"},
	{Principal: "Streaming:CleanPinRole", Action: "lambda:InvokeFunction", Resource: "{att:Streaming:StreamCleanFunction:Arn}:$LATEST", Allow: true,
		Why: "Firehose invokes the transformation function (version $LATEST)", Code: "lambda/streamclean"},
	{Principal: "Streaming:CleanPinRole", Action: "lambda:GetFunctionConfiguration", Resource: "{att:Streaming:StreamCleanFunction:Arn}", Allow: true,
		Why: "Firehose reads the function's configuration", Code: "constructs/icebergstream"},
	{Principal: "Streaming:CleanPinRole", Action: "glue:GetTable", Resource: "arn:{partition}:glue:{region}:{account}:table/pinpipe_{user}/{user}_pin_table", Allow: true,
		Why: "the Iceberg destination reads the table's metadata location", Code: "Firehose Iceberg destination"},
	{Principal: "Streaming:CleanPinRole", Action: "glue:UpdateTable", Resource: "arn:{partition}:glue:{region}:{account}:table/pinpipe_{user}/{user}_pin_table", Allow: true,
		Why: "each commit moves the table's metadata location", Code: "Firehose Iceberg destination"},
	{Principal: "Streaming:CleanPinRole", Action: "s3:PutObject", Resource: warehouseObj, Allow: true,
		Why: "Iceberg data and metadata files", Code: "Firehose Iceberg destination"},
	{Principal: "Streaming:CleanPinRole", Action: "kinesis:GetRecords", Resource: "{att:Storage:StreamGeo:Arn}", Allow: false,
		Why: "each delivery stream reads its own stream only", Code: "-"},
	{Principal: "Streaming:CleanPinRole", Action: "kinesis:PutRecord", Resource: "{att:Storage:StreamPin:Arn}", Allow: false,
		Why: "Firehose never writes its source", Code: "-"},
	{Principal: "Streaming:CleanPinRole", Action: "s3:PutObject", Resource: sinkObject, Allow: false,
		Why: "the raw records are the S3 sink's", Code: "-"},
	{Principal: "Streaming:CleanPinRole", Action: "glue:DeleteTable", Resource: "arn:{partition}:glue:{region}:{account}:table/pinpipe_{user}/{user}_pin_table", Allow: false,
		Why: "Firehose never drops its table", Code: "-"},

	// The stream cleaner Lambda: pure computation; it only logs.
	{Principal: "Streaming:StreamCleanRole", Action: "logs:PutLogEvents", Resource: "{att:Streaming:StreamCleanLogs:Arn}", Allow: true,
		Why: "the function logs", Code: "lambda/streamclean (Lambda runtime)"},
	{Principal: "Streaming:StreamCleanRole", Action: "kinesis:GetRecords", Resource: "{att:Storage:StreamPin:Arn}", Allow: false,
		Why: "Firehose hands it the records; it reads nothing itself", Code: "-"},
	{Principal: "Streaming:StreamCleanRole", Action: "s3:GetObject", Resource: resultsObject, Allow: false,
		Why: "the cleaner touches no bucket", Code: "-"},

	// The batch task: reads topics/ of the sink, writes batch/ of the results bucket.
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:ListBucket", Resource: "arn:{partition}:s3:::{ref:Storage:Sink}", Context: map[string]string{"s3:prefix": "topics/"}, Allow: true,
		Why: "the job lists the sink's objects", Code: "analytics (pinpipe analyse, S3 input)"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:GetObject", Resource: sinkObject, Allow: true,
		Why: "the job reads the raw records", Code: "analytics"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:PutObject", Resource: resultsObject, Allow: true,
		Why: "the job writes its outputs under batch/", Code: "analytics"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:PutObject", Resource: sinkObject, Allow: false,
		Why: "the batch task must never write topics/ (the raw records)", Code: "-"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:GetObject", Resource: "arn:{partition}:s3:::{ref:Storage:Sink}/plugins/connector.zip", Allow: false,
		Why: "the job reads topics/ only", Code: "-"},
	{Principal: "Batch:AnalyseTaskExecutionRole", Action: "ecr:GetAuthorizationToken", Resource: "*", Allow: true,
		Why: "ECS pulls the job's image", Code: "ECS agent (constructs/batchtask)"},
	{Principal: "Batch:AnalyseTaskExecutionRole", Action: "logs:PutLogEvents", Resource: "{att:Batch:AnalyseLogs:Arn}", Allow: true,
		Why: "the awslogs driver writes the job's log", Code: "ECS agent"},
	{Principal: "Batch:AnalyseTaskExecutionRole", Action: "s3:GetObject", Resource: sinkObject, Allow: false,
		Why: "the execution role is the agent's, not the job's", Code: "-"},

	// MWAA runs the DAG: it starts the task, passes its roles, follows it, reads its log.
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa", Action: "s3:GetObject", Resource: "arn:{partition}:s3:::{ref:Batch:AirflowDags}/dags/x.py", Allow: true,
		Why: "MWAA reads the DAGs", Code: "MWAA (constructs/mwaa)"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa", Action: "ecs:RunTask", Resource: "{ref:Batch:AnalyseTask}", Context: runTaskContext, Allow: true,
		Why: "EcsRunTaskOperator starts the job", Code: "stacks/dags/batch_dag.py.tmpl"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa", Action: "iam:PassRole", Resource: "{att:Batch:AnalyseTaskTaskRole:Arn}", Context: passToECS, Allow: true,
		Why: "RunTask passes the task role", Code: "stacks/dags/batch_dag.py.tmpl"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa", Action: "iam:PassRole", Resource: "{att:Batch:AnalyseTaskExecutionRole:Arn}", Context: passToECS, Allow: true,
		Why: "RunTask passes the execution role", Code: "stacks/dags/batch_dag.py.tmpl"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa", Action: "ecs:DescribeTasks", Resource: "arn:{partition}:ecs:{region}:{account}:task/{ref:Batch:AnalyseCluster}/0123456789abcdef", Allow: true,
		Why: "the operator waits for the task", Code: "EcsRunTaskOperator"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa", Action: "logs:GetLogEvents", Resource: "{att:Batch:AnalyseLogs:Arn}", Allow: true,
		Why: "the operator copies the task's log into Airflow's", Code: "EcsRunTaskOperator (awslogs)"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa", Action: "iam:PassRole", Resource: "{att:Ingestion:ConnectorRole:Arn}", Context: passToECS, Allow: false,
		Why: "Airflow passes the batch task's roles only", Code: "-"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+duckdb", Action: "s3:PutObject", Resource: resultsObject, Allow: false,
		Why: "the results are the task's to write", Code: "-"},

	// EventBridge Scheduler starts the task when scheduler=eventbridge.
	{Principal: "Batch:DailyRole", When: "eventbridge+duckdb", Action: "ecs:RunTask", Resource: "{ref:Batch:AnalyseTask}", Context: runTaskContext, Allow: true,
		Why: "the schedule's ECS target", Code: "constructs/schedule"},
	{Principal: "Batch:DailyRole", When: "eventbridge+duckdb", Action: "iam:PassRole", Resource: "{att:Batch:AnalyseTaskTaskRole:Arn}", Context: passToECS, Allow: true,
		Why: "RunTask passes the task role", Code: "constructs/schedule"},
	{Principal: "Batch:DailyRole", When: "eventbridge", Action: "iam:PassRole", Resource: "{att:Ingestion:ProxyRole:Arn}", Context: passToECS, Allow: false,
		Why: "the scheduler passes the batch task's roles only", Code: "-"},

	// The batch task keeps its incremental state under batch/ (analytics/outlayout): it reads it
	// back, lists and deletes files there, and nowhere else (issue 13).
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:GetObject", Resource: stateFile, Allow: true,
		Why: "an incremental run reads the state the last one committed", Code: "analytics/incremental.go loadState"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:GetObject", Resource: stateRunFile, Allow: true,
		Why: "and the state files it names", Code: "analytics/incremental.go loadState"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:GetObject", Resource: cleanRunFile, Allow: true,
		Why: "the earlier runs' clean rows, for the analyses and the compaction", Code: "analytics/batch.go (out.fetch)"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:ListBucket", Resource: resultsBucket, Context: map[string]string{"s3:prefix": "batch/_state/"}, Allow: true,
		Why: "a run lists the state folders for files a run that did not finish left", Code: "analytics/incremental.go orphans"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:ListBucket", Resource: resultsBucket, Context: map[string]string{"s3:prefix": "batch/clean/"}, Allow: true,
		Why: "a run lists the state folders for files a run that did not finish left", Code: "analytics/incremental.go orphans"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:ListBucket", Resource: resultsBucket, Context: map[string]string{"s3:prefix": "batch/quarantine/"}, Allow: true,
		Why: "a run lists the state folders for files a run that did not finish left", Code: "analytics/incremental.go orphans"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:ListBucket", Resource: resultsBucket, Context: map[string]string{"s3:prefix": "batch/_state/state.json"}, Allow: true,
		Why: "a 403 on a missing state file is told from a refusal by listing the key", Code: "analytics/outstore.go (s3Out).exists"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:DeleteObject", Resource: stateRunFile, Allow: true,
		Why: "a run removes the state files the new state no longer names", Code: "analytics/incremental.go (incremental).write"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:DeleteObject", Resource: cleanRunFile, Allow: true,
		Why: "compaction replaces a table's run files; orphans of a run that did not finish go", Code: "analytics/incremental.go"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:DeleteObject", Resource: quarantineFile, Allow: true,
		Why: "orphans of a run that did not finish go; a run without --incremental empties the state folders", Code: "analytics/incremental.go dropState"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:DeleteObject", Resource: resultsObject, Allow: false,
		Why: "the outputs are rewritten, never deleted", Code: "-"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:DeleteObject", Resource: sinkObject, Allow: false,
		Why: "the task never deletes raw records under topics/", Code: "-"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:DeleteObject", Resource: warehouseObj, Allow: false,
		Why: "the Iceberg tables beside batch/ are Firehose's", Code: "-"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:GetObject", Resource: warehouseObj, Allow: false,
		Why: "the task reads back only its own state", Code: "-"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:GetObject", Resource: quarantineFile, Allow: false,
		Why: "quarantine files are written and removed, never read back (outlayout.ReadBackFolders)", Code: "-"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:GetObject", Resource: athenaResult, Allow: false,
		Why: "Athena's results are not the task's", Code: "-"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:ListBucket", Resource: resultsBucket, Context: map[string]string{"s3:prefix": "iceberg/"}, Allow: false,
		Why: "the task lists its state folders only", Code: "-"},
	{Principal: "Batch:AnalyseTaskTaskRole", Action: "s3:ListBucket", Resource: resultsBucket, Allow: false,
		Why: "no listing of the whole results bucket", Code: "-"},

	// analysisEngine=athena, eventbridge: the schedule starts the state machine, whose role runs
	// the task (runTask.sync), the queries (startQueryExecution.sync) and the copies (aws-sdk
	// s3:copyObject), and nothing else.
	{Principal: "Batch:DailyRole", When: "eventbridge+athena", Action: "states:StartExecution", Resource: "{ref:Batch:FlowStateMachine}", Allow: true,
		Why: "the schedule's Step Functions target", Code: "constructs/schedule"},
	{Principal: "Batch:DailyRole", When: "eventbridge+athena", Action: "ecs:RunTask", Resource: "{ref:Batch:AnalyseTask}", Context: runTaskContext, Allow: false,
		Why: "the state machine runs the task, not the schedule", Code: "-"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "ecs:RunTask", Resource: "{ref:Batch:AnalyseTask}", Context: runTaskContext, Allow: true,
		Why: "ecs:runTask.sync starts the batch task", Code: "constructs/batchflow"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "iam:PassRole", Resource: "{att:Batch:AnalyseTaskTaskRole:Arn}", Context: passToECS, Allow: true,
		Why: "RunTask passes the task role", Code: "constructs/batchflow"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "iam:PassRole", Resource: "{att:Batch:AnalyseTaskExecutionRole:Arn}", Context: passToECS, Allow: true,
		Why: "RunTask passes the execution role", Code: "constructs/batchflow"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "ecs:DescribeTasks", Resource: "arn:{partition}:ecs:{region}:{account}:task/{ref:Batch:AnalyseCluster}/0123456789abcdef", Allow: true,
		Why: ".sync follows the task", Code: "Step Functions ecs:runTask.sync"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "ecs:StopTask", Resource: "arn:{partition}:ecs:{region}:{account}:task/{ref:Batch:AnalyseCluster}/0123456789abcdef", Allow: true,
		Why: "a stopped execution stops its task", Code: "Step Functions ecs:runTask.sync"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "events:PutRule", Resource: "arn:{partition}:events:{region}:{account}:rule/StepFunctionsGetEventsForECSTaskRule", Allow: true,
		Why: ".sync learns of the task's end from Step Functions' managed rule", Code: "Step Functions ecs:runTask.sync"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "athena:StartQueryExecution", Resource: athenaWorkgroup, Allow: true,
		Why: "startQueryExecution.sync runs each analysis", Code: "constructs/batchflow"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "athena:GetQueryExecution", Resource: athenaWorkgroup, Allow: true,
		Why: ".sync follows the query", Code: "Step Functions athena:startQueryExecution.sync"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "athena:StopQueryExecution", Resource: athenaWorkgroup, Allow: true,
		Why: "a stopped execution stops its query", Code: "Step Functions athena:startQueryExecution.sync"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "glue:GetTable", Resource: cleanTable, Allow: true,
		Why: "Athena reads the clean table's definition as the caller", Code: "Athena (Glue Data Catalog)"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "glue:GetDatabase", Resource: "arn:{partition}:glue:{region}:{account}:database/pinpipe_{user}", Allow: true,
		Why: "Athena reads the database as the caller", Code: "Athena (Glue Data Catalog)"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:GetObject", Resource: cleanRunFile, Allow: true,
		Why: "Athena reads the clean Parquet as the caller", Code: "Athena"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:ListBucket", Resource: resultsBucket, Context: map[string]string{"s3:prefix": "batch/clean/pin/"}, Allow: true,
		Why: "Athena lists the table's location", Code: "Athena"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:PutObject", Resource: athenaResult, Allow: true,
		Why: "Athena writes the result file as the caller", Code: "Athena (query result location)"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:GetObject", Resource: athenaResult, Allow: true,
		Why: "the copy reads the result file", Code: "constructs/batchflow (aws-sdk:s3:copyObject)"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:PutObject", Resource: resultsObject, Allow: true,
		Why: "the copy writes batch/<output>.csv", Code: "constructs/batchflow (aws-sdk:s3:copyObject)"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "athena:StartQueryExecution", Resource: "arn:{partition}:athena:{region}:{account}:workgroup/primary", Allow: false,
		Why: "queries run in the pipeline's workgroup only (its result location and scan limit)", Code: "-"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "glue:GetTable", Resource: "arn:{partition}:glue:{region}:{account}:table/pinpipe_{user}/raw_pin", Allow: false,
		Why: "the analyses read the clean tables only", Code: "-"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "glue:DeleteTable", Resource: cleanTable, Allow: false,
		Why: "the flow changes no table", Code: "-"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:PutObject", Resource: sinkObject, Allow: false,
		Why: "the flow never writes topics/", Code: "-"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:PutObject", Resource: reportObject, Allow: false,
		Why: "the copies write the eight <output>.csv keys only", Code: "-"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:PutObject", Resource: cleanRunFile, Allow: false,
		Why: "the clean tables are the task's", Code: "-"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "s3:GetObject", Resource: warehouseObj, Allow: false,
		Why: "the flow reads the clean tables and its results only", Code: "-"},
	{Principal: "Batch:FlowRole", When: "eventbridge+athena", Action: "iam:PassRole", Resource: "{att:Ingestion:ProxyRole:Arn}", Context: passToECS, Allow: false,
		Why: "the flow passes the batch task's roles only", Code: "-"},

	// analysisEngine=athena, mwaa: the DAG's Athena tasks run the queries and copy the results.
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "athena:StartQueryExecution", Resource: athenaWorkgroup, Allow: true,
		Why: "AthenaOperator runs each analysis", Code: "stacks/dags/batch_dag.py.tmpl (AnalysisQuery)"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "athena:GetQueryExecution", Resource: athenaWorkgroup, Allow: true,
		Why: "the operator polls the query", Code: "AthenaOperator (AthenaHook.poll_query_status)"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "athena:StopQueryExecution", Resource: athenaWorkgroup, Allow: true,
		Why: "a killed task stops its query", Code: "AthenaOperator.on_kill"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "glue:GetTable", Resource: cleanTable, Allow: true,
		Why: "Athena reads the clean table's definition as the caller", Code: "Athena"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "s3:GetObject", Resource: cleanRunFile, Allow: true,
		Why: "Athena reads the clean Parquet as the caller", Code: "Athena"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "s3:PutObject", Resource: athenaResult, Allow: true,
		Why: "Athena writes the result file as the caller", Code: "Athena"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "s3:GetObject", Resource: athenaResult, Allow: true,
		Why: "S3CopyObjectOperator reads the result file", Code: "stacks/dags/batch_dag.py.tmpl"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "s3:PutObject", Resource: resultsObject, Allow: true,
		Why: "S3CopyObjectOperator writes batch/<output>.csv", Code: "stacks/dags/batch_dag.py.tmpl"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "athena:StartQueryExecution", Resource: "arn:{partition}:athena:{region}:{account}:workgroup/primary", Allow: false,
		Why: "queries run in the pipeline's workgroup only", Code: "-"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "s3:PutObject", Resource: reportObject, Allow: false,
		Why: "the copies write the eight <output>.csv keys only", Code: "-"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa+athena", Action: "s3:DeleteObject", Resource: cleanRunFile, Allow: false,
		Why: "the clean tables are the task's", Code: "-"},
	{Principal: "Batch:AirflowExecutionRole", When: "mwaa", Action: "s3:PutObject", Resource: sinkObject, Allow: false,
		Why: "Airflow never writes topics/", Code: "-"},

	// The REST proxy instance: produces to the user's topics; the README's and client.properties'
	// console consumer reads them.
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:Connect", Resource: "{cluster}", Allow: true,
		Why: "the REST proxy's producer connects", Code: "stacks/userdata/rest-proxy.sh (kafka-rest)"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:WriteData", Resource: "{topic:{user}.pin}", Allow: true,
		Why: "POST /topics/<userId>.pin", Code: "kafka-rest"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:DescribeTopic", Resource: "{topic:{user}.user}", Allow: true,
		Why: "the producer fetches topic metadata", Code: "kafka-rest"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:WriteDataIdempotently", Resource: "{cluster}", Allow: true,
		Why: "acks=all idempotent producer", Code: "kafka-rest (producer.acks=all)"},
	{Principal: "Ingestion:ProxyRole", Action: "sts:AssumeRole", Resource: "{att:Ingestion:ProxyRole:Arn}", Allow: true,
		Why: "the IAM login module assumes awsRoleArn, the instance's own role", Code: "client.properties (awsRoleArn)"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:ReadData", Resource: "{topic:{user}.pin}", Allow: true,
		Why: "the console consumer shown in client.properties reads the user's topics (issue 9, finding 9)", Code: "stacks/userdata/rest-proxy.sh (client.properties comment)"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:AlterGroup", Resource: "{group:console-consumer-12345}", Allow: true,
		Why: "kafka-console-consumer joins a group console-consumer-<n>", Code: "kafka-console-consumer.sh"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:DescribeGroup", Resource: "{group:console-consumer-12345}", Allow: true,
		Why: "kafka-console-consumer describes its group", Code: "kafka-console-consumer.sh"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:WriteData", Resource: "{topic:" + otherUser + ".pin}", Allow: false,
		Why: "the proxy must not write another user's topic", Code: "-"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:DeleteTopic", Resource: "{topic:{user}.pin}", Allow: false,
		Why: "topics are the Kafka stack's", Code: "-"},
	{Principal: "Ingestion:ProxyRole", Action: "kafka-cluster:AlterCluster", Resource: "{cluster}", Allow: false,
		Why: "a client never alters the cluster", Code: "-"},

	// The API's Kinesis integration roles, one per kind of route (issue 9, finding 8): the data
	// routes' role describes and writes streaming-<userId>-*, CreateStream's creates them,
	// DeleteStream's deletes them but never the pipeline's three.
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:PutRecord", Resource: "{att:Storage:StreamPin:Arn}", Allow: true,
		Why: "PUT /streams/{s}/record", Code: "constructs/kinesisapi (data routes)"},
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:PutRecords", Resource: "{att:Storage:StreamUser:Arn}", Allow: true,
		Why: "PUT /streams/{s}/records", Code: "constructs/kinesisapi"},
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:DescribeStream", Resource: "{att:Storage:StreamGeo:Arn}", Allow: true,
		Why: "GET /streams/{s}", Code: "constructs/kinesisapi"},
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:PutRecord", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-{user}-scratch", Allow: true,
		Why: "a stream created through the API takes records like the pipeline's", Code: "constructs/kinesisapi"},
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:ListStreams", Resource: "*", Allow: true,
		Why: "GET /streams", Code: "constructs/kinesisapi"},
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:CreateStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-{user}-scratch", Allow: false,
		Why: "the data routes' role cannot create streams (a data-route caller must not change infrastructure)", Code: "-"},
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:DeleteStream", Resource: "{att:Storage:StreamPin:Arn}", Allow: false,
		Why: "the data routes' role cannot delete streams", Code: "-"},
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:DeleteStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-{user}-scratch", Allow: false,
		Why: "the data routes' role cannot delete streams", Code: "-"},
	{Principal: "Ingestion:ApiKinesisDataRole", Action: "kinesis:PutRecord", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-" + otherUser + "-pin", Allow: false,
		Why: "another user's streams are not this API's", Code: "-"},
	{Principal: "Ingestion:ApiKinesisCreateRole", Action: "kinesis:CreateStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-{user}-scratch", Allow: true,
		Why: "POST /streams/{name} creates streaming-<userId>-* streams (issue 9, finding 8: it could create none)", Code: "constructs/kinesisapi (CreateStream route)"},
	{Principal: "Ingestion:ApiKinesisCreateRole", Action: "kinesis:CreateStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/" + otherUser + "-scratch", Allow: false,
		Why: "CreateStream only under the user's prefix streaming-<userId>-", Code: "-"},
	{Principal: "Ingestion:ApiKinesisCreateRole", Action: "kinesis:CreateStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-" + otherUser + "-pin", Allow: false,
		Why: "another user's prefix is not this API's", Code: "-"},
	{Principal: "Ingestion:ApiKinesisCreateRole", Action: "kinesis:DeleteStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-{user}-scratch", Allow: false,
		Why: "the CreateStream route's role deletes nothing", Code: "-"},
	{Principal: "Ingestion:ApiKinesisCreateRole", Action: "kinesis:PutRecord", Resource: "{att:Storage:StreamPin:Arn}", Allow: false,
		Why: "the CreateStream route's role writes nothing", Code: "-"},
	{Principal: "Ingestion:ApiKinesisDeleteRole", Action: "kinesis:DeleteStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-{user}-scratch", Allow: true,
		Why: "DELETE /streams/{name} deletes a stream created through the API", Code: "constructs/kinesisapi (DeleteStream route)"},
	{Principal: "Ingestion:ApiKinesisDeleteRole", Action: "kinesis:DeleteStream", Resource: "{att:Storage:StreamPin:Arn}", Allow: false,
		Why: "the pipeline's own streams can never be deleted through the API (issue 9, finding 8)", Code: "-"},
	{Principal: "Ingestion:ApiKinesisDeleteRole", Action: "kinesis:DeleteStream", Resource: "{att:Storage:StreamGeo:Arn}", Allow: false,
		Why: "the pipeline's own streams can never be deleted through the API (issue 9, finding 8)", Code: "-"},
	{Principal: "Ingestion:ApiKinesisDeleteRole", Action: "kinesis:DeleteStream", Resource: "{att:Storage:StreamUser:Arn}", Allow: false,
		Why: "the pipeline's own streams can never be deleted through the API (issue 9, finding 8)", Code: "-"},
	{Principal: "Ingestion:ApiKinesisDeleteRole", Action: "kinesis:DeleteStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-" + otherUser + "-pin", Allow: false,
		Why: "another user's streams are not this API's", Code: "-"},
	{Principal: "Ingestion:ApiKinesisDeleteRole", Action: "kinesis:CreateStream", Resource: "arn:{partition}:kinesis:{region}:{account}:stream/streaming-{user}-scratch", Allow: false,
		Why: "the DeleteStream route's role creates nothing", Code: "-"},

	// The emulator functions: with apiAuth=key they read their API key; with apiAuth=iam they
	// sign as their role, which may invoke exactly the routes they post to (issue 9, finding 13).
	// Their schedules invoke them.
	{Principal: "Emulator:EmulateBatchRole", When: "emulator+key", Action: "secretsmanager:GetSecretValue", Resource: "{ref:Emulator:ApiKeySecret}", Allow: true,
		Why: "the emulator reads the API key", Code: "lambda/emulator"},
	{Principal: "Emulator:EmulateBatchRole", When: "emulator+iam", Action: "execute-api:Invoke", Resource: apiRoute + "/POST/topics/{user}.pin", Allow: true,
		Why: "the batch emulator posts to the pin topic's route, signed (SigV4)", Code: "lambda/emulator (PINPIPE_SIGV4)"},
	{Principal: "Emulator:EmulateStreamRole", When: "emulator+iam", Action: "execute-api:Invoke", Resource: apiRoute + "/PUT/streams/streaming-{user}-geo/record", Allow: true,
		Why: "the stream emulator puts records on the geo stream's route, signed (SigV4)", Code: "lambda/emulator (PINPIPE_SIGV4)"},
	{Principal: "Emulator:EmulateBatchRole", When: "emulator+iam", Action: "execute-api:Invoke", Resource: apiRoute + "/PUT/streams/streaming-{user}-geo/record", Allow: false,
		Why: "each emulator may invoke the routes of its own mode only", Code: "-"},
	{Principal: "Emulator:EmulateStreamRole", When: "emulator+iam", Action: "execute-api:Invoke", Resource: apiRoute + "/DELETE/streams/streaming-{user}-pin", Allow: false,
		Why: "the emulator never administers streams", Code: "-"},
	{Principal: "Emulator:EmulateBatchRole", When: "emulator+iam", Action: "execute-api:Invoke", Resource: apiRoute + "/POST/topics/" + otherUser + ".pin", Allow: false,
		Why: "the emulator posts to its user's topics only", Code: "-"},
	{Principal: "Emulator:EveryBatchRole", When: "emulator", Action: "lambda:InvokeFunction", Resource: "{att:Emulator:EmulateBatchFunction:Arn}", Allow: true,
		Why: "the schedule invokes the function", Code: "constructs/schedule"},
	{Principal: "Emulator:EmulateBatchRole", When: "emulator", Action: "s3:GetObject", Resource: sinkObject, Allow: false,
		Why: "the emulator posts through the API only", Code: "-"},

	// The cdk diff role of pull requests (Pinpipe-GitHubOidc) may only assume the CDK bootstrap
	// lookup role. (Who may assume it, a pull request of githubRepo with GitHub's token, is a
	// condition on the token's aud and sub claims, keys iam-simulate's data lacks: the
	// simulator would ignore them, so TestGitHubOidcStack asserts that trust policy exactly.)
	{Principal: "GitHubOidc:CdkDiffRole", When: "github", Action: "sts:AssumeRole", Resource: "arn:{partition}:iam::{account}:role/cdk-hnb659fds-lookup-role-{account}-{region}", Allow: true,
		Why: "cdk diff --no-change-set reads the deployed templates through the bootstrap lookup role", Code: "npx cdk diff (.github/workflows/cdk-diff.yml)"},
	{Principal: "GitHubOidc:CdkDiffRole", When: "github", Action: "sts:AssumeRole", Resource: "arn:{partition}:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{region}", Allow: false,
		Why: "a pull request must never deploy", Code: "-"},
	{Principal: "GitHubOidc:CdkDiffRole", When: "github", Action: "s3:GetObject", Resource: sinkObject, Allow: false,
		Why: "the role reads no data", Code: "-"},

	// Services writing into the pipeline's resources, governed by resource policies.
	{Principal: "service:logging.s3.amazonaws.com", Action: "s3:PutObject", Resource: "arn:{partition}:s3:::{ref:Storage:AccessLogs}/sink/2026-01-01-00-00-00-0123456789ABCDEF",
		Context: map[string]string{"aws:SourceAccount": "{account}", "aws:SourceArn": "arn:{partition}:s3:::{ref:Storage:Sink}"}, Allow: true,
		Why: "S3 delivers the sink bucket's access logs", Code: "stacks/storage.go (server access logs)"},
	{Principal: "service:logging.s3.amazonaws.com", Action: "s3:PutObject", Resource: "arn:{partition}:s3:::{ref:Storage:AccessLogs}/sink/2026-01-01-00-00-00-0123456789ABCDEF",
		Context: map[string]string{"aws:SourceAccount": fakeAccount2, "aws:SourceArn": "arn:{partition}:s3:::someone-elses-bucket"}, Allow: false,
		Why: "another account's bucket must not log into ours (confused deputy)", Code: "-"},
	{Principal: "service:logging.s3.amazonaws.com", When: "mwaa", Action: "s3:PutObject", Resource: "arn:{partition}:s3:::{ref:Storage:AccessLogs}/mwaa-dags/2026-01-01-00-00-00-0123456789ABCDEF",
		Context: map[string]string{"aws:SourceAccount": fakeAccount2, "aws:SourceArn": "arn:{partition}:s3:::someone-elses-bucket"}, Allow: false,
		Why: "the /mwaa-dags/* statement needs source conditions too (issue 9, finding 12)", Code: "-"},
	{Principal: "service:events.amazonaws.com", Action: "sns:Publish", Resource: "{ref:Monitoring:MonitoringAlarms}",
		Context: map[string]string{"aws:SourceAccount": "{account}", "aws:SourceArn": "{att:Monitoring:MonitoringTaskFailures:Arn}"}, Allow: true,
		Why: "the task-failure rule notifies the alarm topic", Code: "constructs/monitoring"},
	{Principal: "service:events.amazonaws.com", When: "eventbridge+athena", Action: "sns:Publish", Resource: "{ref:Monitoring:MonitoringAlarms}",
		Context: map[string]string{"aws:SourceAccount": "{account}", "aws:SourceArn": "{att:Monitoring:MonitoringExecutionFailures:Arn}"}, Allow: true,
		Why: "the failed-execution rule of the batch state machine notifies the alarm topic", Code: "constructs/monitoring"},
	{Principal: "service:events.amazonaws.com", Action: "sns:Publish", Resource: "{ref:Monitoring:MonitoringAlarms}",
		Context: map[string]string{"aws:SourceAccount": fakeAccount2, "aws:SourceArn": "arn:{partition}:events:{region}:" + fakeAccount2 + ":rule/anything"}, Allow: false,
		Why: "another account's rule must not publish to our topic (issue 9, finding 12)", Code: "-"},
	{Principal: "service:cloudwatch.amazonaws.com", Action: "kms:GenerateDataKey", Resource: "{att:Monitoring:MonitoringKey:Arn}",
		Context: map[string]string{"aws:SourceAccount": fakeAccount2, "aws:SourceArn": "arn:{partition}:cloudwatch:{region}:" + fakeAccount2 + ":alarm:x"}, Allow: false,
		Why: "another account's alarms must not use our key (issue 9, finding 12)", Code: "-"},
}
