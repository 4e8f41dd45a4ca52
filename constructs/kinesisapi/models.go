package kinesisapi

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/jsii-runtime-go"
)

// models are the JSON schemas of the request bodies API Gateway validates before calling Kinesis,
// and of the error body it returns.
type models struct {
	putRecord, putRecords, createStream, kinesisError awsapigateway.Model
}

func newModels(api awsapigateway.RestApi) *models {
	obj := func(props map[string]*awsapigateway.JsonSchema, required ...string) *awsapigateway.JsonSchema {
		s := &awsapigateway.JsonSchema{
			Schema:     awsapigateway.JsonSchemaVersion_DRAFT4,
			Type:       awsapigateway.JsonSchemaType_OBJECT,
			Properties: &props,
		}
		if len(required) > 0 {
			s.Required = jsii.Strings(required...)
		}
		return s
	}
	// A Kinesis partition key is a Unicode string of 1 to 256 characters.
	partitionKey := &awsapigateway.JsonSchema{
		Type: awsapigateway.JsonSchemaType_STRING, MinLength: jsii.Number(1), MaxLength: jsii.Number(256),
	}
	// A record is one source row: a JSON object.
	row := &awsapigateway.JsonSchema{Type: awsapigateway.JsonSchemaType_OBJECT}
	add := func(name string, schema *awsapigateway.JsonSchema) awsapigateway.Model {
		return api.AddModel(jsii.String(name), &awsapigateway.ModelOptions{
			ModelName:   jsii.String(name),
			ContentType: jsii.String("application/json"),
			Schema:      schema,
		})
	}
	return &models{
		putRecord: add("PutRecord", obj(map[string]*awsapigateway.JsonSchema{
			"Data":         row,
			"PartitionKey": partitionKey,
			"StreamName":   {Type: awsapigateway.JsonSchemaType_STRING},
		}, "Data", "PartitionKey")),
		putRecords: add("PutRecords", obj(map[string]*awsapigateway.JsonSchema{
			"records": {
				Type:     awsapigateway.JsonSchemaType_ARRAY,
				MinItems: jsii.Number(1),
				// The PutRecords limit.
				MaxItems: jsii.Number(500),
				Items: obj(map[string]*awsapigateway.JsonSchema{
					"data":          row,
					"partition-key": partitionKey,
				}, "data", "partition-key"),
			},
		}, "records")),
		createStream: add("CreateStream", obj(map[string]*awsapigateway.JsonSchema{
			"ShardCount": {Type: awsapigateway.JsonSchemaType_INTEGER, Minimum: jsii.Number(1), Maximum: jsii.Number(500)},
		})),
		kinesisError: add("KinesisError", obj(map[string]*awsapigateway.JsonSchema{
			"__type":  {Type: awsapigateway.JsonSchemaType_STRING},
			"message": {Type: awsapigateway.JsonSchemaType_STRING},
		})),
	}
}
