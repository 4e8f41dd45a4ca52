package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// event is a CloudFormation custom resource request as the service sends it (numbers and
// booleans as strings, nested objects as JSON objects).
func event(t *testing.T, typ cfn.RequestType, props string) cfn.Event {
	t.Helper()
	var p map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(props), &p))
	return cfn.Event{RequestType: typ, ResourceType: "Custom::PhysicalName", LogicalResourceID: "ConnectorName",
		PhysicalResourceID: "pinpipe-demo-s3-sink-00000000", ResourceProperties: p}
}

const connectorInputs = `{"Prefix":"pinpipe-demo-s3-sink","MaxLength":"128","Inputs":{
	"KafkaCluster":{"ApacheKafkaCluster":{"BootstrapServers":"b-1.demo.kafka.us-east-1.amazonaws.com:9098,b-2.demo.kafka.us-east-1.amazonaws.com:9098",
		"Vpc":{"SecurityGroups":["sg-0a1b2c3d4e5f60718"],"Subnets":["subnet-0123456789abcdef0","subnet-0fedcba9876543210"]}}},
	"KafkaConnectVersion":"2.7.1","ServiceExecutionRoleArn":"arn:aws:iam::123456789012:role/ConnectorRole",
	"LogDelivery":{"WorkerLogDelivery":{"CloudWatchLogs":{"Enabled":"true","LogGroup":"Pinpipe-demo-Ingestion-ConnectorLogs"}}}}}`

func TestNameFollowsEveryInput(t *testing.T) {
	name, data, err := handle(context.Background(), event(t, cfn.RequestCreate, connectorInputs))
	require.NoError(t, err)
	assert.Regexp(t, `^pinpipe-demo-s3-sink-[0-9a-f]{8}$`, name)
	assert.Equal(t, name, data["Name"])

	// The same inputs in another key order: the same name (no needless replacement).
	var p map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(connectorInputs), &p))
	reordered, _ := json.Marshal(map[string]interface{}{"Inputs": p["Inputs"], "MaxLength": "128", "Prefix": "pinpipe-demo-s3-sink"})
	again, _, err := handle(context.Background(), event(t, cfn.RequestUpdate, string(reordered)))
	require.NoError(t, err)
	assert.Equal(t, name, again)

	// Any change of a create-only value: a new name.
	for _, change := range [][2]string{
		{"b-1.demo", "b-3.demo"},
		{"sg-0a1b2c3d4e5f60718", "sg-0a1b2c3d4e5f60719"},
		{"subnet-0fedcba9876543210", "subnet-0fedcba9876543211"},
		{`"2.7.1"`, `"3.7.x"`},
		{"role/ConnectorRole", "role/ConnectorRole2"},
		{`"Enabled":"true"`, `"Enabled":"false"`},
	} {
		changed := strings.Replace(connectorInputs, change[0], change[1], 1)
		require.NotEqual(t, connectorInputs, changed)
		other, _, err := handle(context.Background(), event(t, cfn.RequestUpdate, changed))
		require.NoError(t, err)
		assert.NotEqual(t, name, other, "changing %s to %s", change[0], change[1])
	}
}

func TestNameRefusesBadProperties(t *testing.T) {
	for _, props := range []string{
		`{"Inputs":{}}`,
		`{"Prefix":"1abc","Inputs":{}}`,
		`{"Prefix":"a b","Inputs":{}}`,
		`{"Prefix":"abc"}`,
		`{"Prefix":"abc","Inputs":{},"MaxLength":"x"}`,
		`{"Prefix":"abcdefghijkl","Inputs":{},"MaxLength":"12"}`,
	} {
		_, _, err := handle(context.Background(), event(t, cfn.RequestCreate, props))
		assert.Error(t, err, props)
	}
}

func TestDeleteIsNothing(t *testing.T) {
	id, data, err := handle(context.Background(), event(t, cfn.RequestDelete, `{}`))
	require.NoError(t, err)
	assert.Equal(t, "pinpipe-demo-s3-sink-00000000", id)
	assert.Nil(t, data)
}
